#include "coordinator/status/table.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace graft;

TEST_CASE("the status table shows each node with its phase, address, age and redacted join command") {
    auto now = proto::from_unix(1795000000);
    proto::node_status a;
    a.name = "node-1";
    a.phase = "joined";
    a.address = "192.168.1.20";
    a.enrolled_at = proto::to_rfc3339(now - std::chrono::minutes(5));
    a.join_issued_at = proto::to_rfc3339(now - std::chrono::seconds(30));
    a.join_command = "kubeadm join 10.0.0.1:6443 --token abcdef.****************";
    proto::node_status b;
    b.name = "node-2";
    b.phase = "failed";
    b.reason = "kubeadm exited with status 1";
    b.enrolled_at = proto::to_rfc3339(now - std::chrono::seconds(40));
    auto table = coordinator::format_status_table({a, b}, now);
    CHECK(table ==
          "NAME     PHASE                                   ADDRESS        AGE   JOIN-ISSUED   JOIN COMMAND\n"
          "node-1   joined                                  192.168.1.20   5m    30s ago       kubeadm join 10.0.0.1:6443 --token abcdef.****************\n"
          "node-2   failed (kubeadm exited with status 1)   -              40s   -             -\n");
}

TEST_CASE("an empty fleet says so") {
    CHECK_THAT(coordinator::format_status_table({}, proto::clock::now()), Catch::Contains("no nodes have enrolled yet"));
}

TEST_CASE("a NotReady node shows kubelet's reason, cut to fit a row, and the cluster line shows the last error") {
    proto::node_status n;
    n.name = "node-3";
    n.phase = "joined";
    n.reason = "NotReady: KubeletNotReady: container runtime network not ready: NetworkReady=false "
               "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";
    auto table = coordinator::format_status_table({n}, proto::clock::now());
    CHECK_THAT(table, Catch::Contains("joined (NotReady: KubeletNotReady: container runtime network not ready: Netwo...)"));

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
    CHECK_THAT(table, Catch::Contains("failed (x\\r\\e[2K\\nnode-99   \\e[32mready\\e[0m)"));
}
