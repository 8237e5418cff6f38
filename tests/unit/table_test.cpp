#include "coordinator/status/table.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace graft;

TEST_CASE("the node table shows each node with its phase, the cluster's word, address, last-seen, age and reason") {
    auto now = proto::from_unix(1795000000);
    proto::node_status a;
    a.name = "node-1";
    a.phase = "joined";
    a.address = "192.168.1.20";
    a.readiness_tracked = true;
    a.readiness = "NotReady";
    a.reason = "waiting for the cluster";
    a.enrolled_at = proto::to_rfc3339(now - std::chrono::minutes(5));
    a.last_seen = proto::to_rfc3339(now - std::chrono::seconds(12));
    a.join_issued_at = proto::to_rfc3339(now - std::chrono::seconds(30));
    a.model = "Raspberry Pi 4 Model B Rev 1.4";
    a.arch = "arm64";
    proto::node_status b;
    b.name = "node-2";
    b.phase = "failed";
    b.reason = "kubeadm exited with status 1";
    b.enrolled_at = proto::to_rfc3339(now - std::chrono::seconds(40));
    CHECK(coordinator::format_status_table({a, b}, now) ==
          "NAME     PHASE    CLUSTER    ADDRESS        LAST-SEEN   AGE   REASON\n"
          "node-1   joined   NotReady   192.168.1.20   12s         5m    waiting for the cluster\n"
          "node-2   failed   -          -              -           40s   kubeadm exited with status 1\n");
    CHECK(coordinator::format_status_table({a, b}, now, true) ==
          "NAME     PHASE    CLUSTER    ADDRESS        LAST-SEEN   AGE   MODEL                            ARCH    JOIN-ISSUED   REASON\n"
          "node-1   joined   NotReady   192.168.1.20   12s         5m    Raspberry Pi 4 Model B Rev 1.4   arm64   30s ago       waiting for the cluster\n"
          "node-2   failed   -          -              -           40s   -                                -       -             kubeadm exited with status 1\n");
}

TEST_CASE("an empty fleet says so") {
    CHECK_THAT(coordinator::format_status_table({}, proto::clock::now()), Catch::Contains("no nodes have enrolled yet"));
}

TEST_CASE("a long reason is cut to fit 120 columns and the table says where it is whole, and the cluster line shows the last error") {
    proto::node_status n;
    n.name = "node-3";
    n.phase = "joined";
    n.reason = "NotReady: KubeletNotReady: container runtime network not ready: NetworkReady=false "
               "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";
    n.enrolled_at = proto::to_rfc3339(proto::clock::now());
    auto table = coordinator::format_status_table({n}, proto::clock::now());
    std::size_t longest = 0, start = 0;
    for (auto nl = table.find('\n'); nl != std::string::npos; start = nl + 1, nl = table.find('\n', start))
        if (!table.substr(start, nl - start).starts_with("(")) longest = std::max(longest, nl - start);
    CHECK(longest == 120);
    CHECK_THAT(table, Catch::Contains("NotReady: KubeletNotReady: container runtime network not read..."));
    CHECK_THAT(table, Catch::Contains("...\n(1 reason is cut to fit: `describe node NAME` or `-o wide` shows it whole)"));
    // The wide table and JSON keep all of it: the fix is at the end.
    CHECK_THAT(coordinator::format_status_table({n}, proto::clock::now(), true), Catch::Contains("cni plugin not initialized"));

    proto::json cluster{{"kubeconfig", "/etc/kubernetes/admin.conf"}, {"version", "v1.29.3"}, {"state", "watching Nodes"},
                        {"last_error", "the watch sent a malformed event"}, {"last_error_at", "2026-11-23T12:00:00Z"}};
    CHECK(coordinator::format_cluster_summary(cluster) ==
          "cluster: watching Nodes, Kubernetes v1.29.3 (/etc/kubernetes/admin.conf)\n"
          "last cluster error at 2026-11-23T12:00:00Z: the watch sent a malformed event\n\n");
}

TEST_CASE("ESC sequences and newlines a node reported cannot paint or add a row in the status table") {
    auto now = proto::from_unix(1795000000);
    proto::node_status n;
    n.name = "node-1";
    n.phase = "failed";
    // What a hostile report tried: clear the line, then print a forged row of its own, in green.
    n.reason = "x\r\x1b[2K\nnode-99   \x1b[32mready\x1b[0m";
    n.enrolled_at = proto::to_rfc3339(now);
    const auto table = coordinator::format_status_table({n}, now);
    CHECK(table.find('\x1b') == std::string::npos);
    CHECK(table.find('\r') == std::string::npos);
    CHECK(std::count(table.begin(), table.end(), '\n') == 2);  // the header and node-1's row
    CHECK_THAT(table, Catch::Contains("   x\\r\\e[2K\\nnode-99   \\e[32mready\\e[0m\n"));
}
