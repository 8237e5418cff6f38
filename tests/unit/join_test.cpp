// agent/join.hpp: what each flavour's join does on the node, with a recording stand-in for systemd and the stub
// programs under tests/fixtures.
#include "agent/join.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

using namespace graft;
using namespace graft::agent;

namespace {

const std::string fixtures = GRAFT_FIXTURES_DIR;

struct recording_system : live_system {
    std::vector<std::string> calls;
    bool fail_start = false;
    void set_static_hostname(const std::string&) override {}
    void restart_unit(const std::string& u) override { calls.push_back("restart " + u); }
    void stop_unit(const std::string& u) override { calls.push_back("stop " + u); }
    void enable_and_start_unit(const std::string& u) override {
        if (fail_start) throw std::runtime_error("Unit " + u + " not found.");
        calls.push_back("enable-start " + u);
    }
    void swapoff(const std::string&) override {}
    void remove_zram(const std::string&) override {}
    void run(const std::vector<std::string>& argv) override { calls.push_back("run " + argv.at(0)); }
    void reboot() override { calls.push_back("reboot"); }
};

join_programs stubs() {
    join_programs p;
    p.kubeadm = {fixtures + "/stub-kubeadm"};
    p.kubelet = {fixtures + "/stub-kubelet"};
    p.k3s = {fixtures + "/stub-k3s"};
    p.k0s = {fixtures + "/stub-k0s"};
    p.timeout = std::chrono::seconds(20);
    return p;
}

}  // namespace

TEST_CASE("the node reports the versions its flavour joins with, and nothing for a missing program") {
    auto v = local_versions("kubeadm", stubs());
    CHECK(v.kubelet_version == "v1.29.3");
    CHECK(v.kubeadm_version == "v1.29.3");
    CHECK(local_versions("k3s", stubs()).kubelet_version == "v1.29.3+k3s1");
    CHECK_FALSE(local_versions("k3s", stubs()).kubeadm_version);
    CHECK(local_versions("k0s", stubs()).kubelet_version == "v1.29.3+k0s.0");
    join_programs missing;
    missing.kubelet = {"/nonexistent/kubelet"};
    missing.kubeadm = {"/nonexistent/kubeadm"};
    auto none = local_versions("kubeadm", missing);
    CHECK_FALSE(none.kubelet_version);
    CHECK_FALSE(none.kubeadm_version);
}

TEST_CASE("kubeadm is told containerd's CRI socket where containerd is installed, cri-dockerd's where only it is") {
    test::temp_dir dir;
    host h(dir.path().string());
    CHECK(cri_socket(h).empty());
    test::write(dir / "usr/bin/cri-dockerd", "");
    CHECK(cri_socket(h) == "unix:///var/run/cri-dockerd.sock");
    test::write(dir / "etc/containerd/config.toml", "version = 2\n");
    CHECK(cri_socket(h) == "unix:///run/containerd/containerd.sock");
}

namespace {
proto::join_spec k3s_spec(const std::string& node) {
    proto::join_spec spec;
    spec.node_name = node;
    spec.flavour = "k3s";
    spec.api_server_endpoint = "192.168.1.2:6443";
    spec.token = "K10" + std::string(64, 'c') + "::abcdef.0123456789abcdef";
    return spec;
}
}  // namespace

TEST_CASE("a k3s join writes k3s's config and a 0600 token file, then starts k3s-agent through systemd") {
    test::temp_dir dir;
    test::make_node_root(dir.path().string());
    host h(dir.path().string());
    state_store store(dir.path().string());
    store.prepare();
    recording_system live;
    node_joiner joiner(h, store, &live, stubs());
    const auto spec = k3s_spec("node-4");
    auto outcome = joiner.join(spec, "192.168.1.20");
    CHECK(outcome.joined);
    CHECK(test::read(dir / "etc/rancher/k3s/config.yaml.d/90-graft.yaml") ==
          "# Written by graft-agent for node node-4\n"
          "server: \"https://192.168.1.2:6443\"\n"
          "token-file: \"/etc/rancher/k3s/graft-token\"\n"
          "node-name: \"node-4\"\n"
          "node-ip: \"192.168.1.20\"\n");
    CHECK(test::file_mode(dir / "etc/rancher/k3s/config.yaml.d/90-graft.yaml") == 0600);
    CHECK_FALSE(std::filesystem::exists(dir / "etc/rancher/k3s/config.yaml"));
    CHECK(test::read(dir / "etc/rancher/k3s/graft-token") == spec.token + "\n");
    CHECK(test::file_mode(dir / "etc/rancher/k3s/graft-token") == 0600);
    CHECK(live.calls == std::vector<std::string>{"enable-start k3s-agent.service"});

    live.fail_start = true;
    outcome = joiner.join(spec, "192.168.1.20");
    CHECK_FALSE(outcome.joined);
    CHECK_THAT(outcome.error, Catch::Contains("k3s-agent.service") && Catch::Contains("INSTALL_K3S_EXEC=agent"));
}

TEST_CASE("a k3s join keeps the user's own config.yaml byte for byte, and graft's keys come in k3s's drop-in directory") {
    test::temp_dir dir;
    test::make_node_root(dir.path().string());
    const std::string user = "# my cluster\ndisable:\n  - traefik\nnode-label:\n  - \"zone=attic\"\nkubelet-arg:\n  - \"max-pods=40\"\n";
    test::write(dir / "etc/rancher/k3s/config.yaml", user);
    host h(dir.path().string());
    state_store store(dir.path().string());
    store.prepare();
    recording_system live;
    node_joiner joiner(h, store, &live, stubs());
    REQUIRE(joiner.join(k3s_spec("node-5"), "").joined);
    CHECK(test::read(dir / "etc/rancher/k3s/config.yaml") == user);
    // k3s merges config.yaml and then config.yaml.d/*.yaml in name order; graft's drop-in holds only its own keys.
    const auto drop_in = YAML::LoadFile(dir / "etc/rancher/k3s/config.yaml.d/90-graft.yaml");
    std::vector<std::string> keys;
    for (const auto& kv : drop_in) keys.push_back(kv.first.as<std::string>());
    CHECK(keys == std::vector<std::string>{"server", "token-file", "node-name"});
    CHECK(drop_in["server"].as<std::string>() == "https://192.168.1.2:6443");
}

TEST_CASE("a failed kubeadm join is reset, reports kubeadm's last words, and leaves no configuration behind") {
    test::temp_dir dir;
    test::make_node_root(dir.path().string());
    host h(dir.path().string());
    state_store store(dir.path().string());
    store.prepare();
    node_joiner joiner(h, store, nullptr, stubs());
    proto::join_spec spec;
    spec.node_name = "node-1";
    spec.api_server_endpoint = "127.0.0.1:" + std::to_string(test::free_port());  // nothing listens there
    spec.token = "abcdef.0123456789abcdef";
    spec.ca_cert_hashes = {"sha256:" + std::string(64, 'a')};
    ::setenv("STUB_RECORD_DIR", (dir / "records").c_str(), 1);
    auto outcome = joiner.join(spec, "");
    ::unsetenv("STUB_RECORD_DIR");
    CHECK_FALSE(outcome.joined);
    CHECK_THAT(outcome.error, Catch::Contains("stub-kubeadm exited with status"));
    CHECK(test::read(dir / "records/resets") == "reset\n");
    CHECK_FALSE(std::filesystem::exists(dir / "var/lib/graft/join-configuration.yaml"));
    // kubeadm 1.29 gets v1beta3.
    CHECK_THAT(test::read(dir / "records/node-1.yaml"), Catch::StartsWith("apiVersion: kubeadm.k8s.io/v1beta3\n"));
}
