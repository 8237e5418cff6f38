#include "agent/steps/kubelet_flags.hpp"
#include "agent/steps/step.hpp"

#include "support/steps.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;
using namespace graft::agent;

namespace {

struct node_copy {
    test::temp_dir dir;
    explicit node_copy(const std::string& fixture) { test::copy_host_fixture(fixture, dir.path().string()); }
    step_plan apply(std::string_view step_name, const host_profile& p = {}) {
        host h(dir.path().string());
        auto plan = test::step_named(step_name).probe(h, p);
        if (plan.blocker.empty()) REQUIRE(apply_edits(h, plan).empty());
        return plan;
    }
    std::string kubelet() { return test::read(dir / "etc/default/kubelet"); }
};

host_profile with_cidr(std::string cidr) {
    host_profile p;
    p.node_cidr = std::move(cidr);
    return p;
}

}  // namespace

TEST_CASE("where systemd-resolved runs, kubelet gets its upstream file, and other kubelet flags stay") {
    node_copy node("ubuntu-2204-pi");
    auto plan = node.apply("dns");
    CHECK(plan.actions.empty());
    CHECK(node.kubelet() == "KUBELET_EXTRA_ARGS=\"--max-pods=60 --resolv-conf=/run/systemd/resolve/resolv.conf\"\n");
    CHECK(node.apply("dns").edits.empty());
}

TEST_CASE("where systemd-resolved is installed but off (Kali), it is started and kubelet pointed at it") {
    node_copy node("kali-pi");
    auto plan = node.apply("dns");
    REQUIRE(plan.actions.size() == 1);
    CHECK(plan.actions[0].what == live_action::kind::enable_and_start_unit);
    CHECK(plan.actions[0].args == std::vector<std::string>{"systemd-resolved.service"});
    CHECK(node.kubelet() == "KUBELET_EXTRA_ARGS=\"--resolv-conf=/run/systemd/resolve/resolv.conf\"\n");
}

TEST_CASE("without systemd-resolved, /etc/resolv.conf is used when its nameservers are real") {
    node_copy node("rpi-os-bookworm");
    node.apply("dns");
    CHECK(node.kubelet() == "KUBELET_EXTRA_ARGS=\"--resolv-conf=/etc/resolv.conf\"\n");
}

TEST_CASE("a resolv.conf with only loopback nameservers, or none at all, blocks the step and writes nothing") {
    node_copy node("rpi-os-bookworm");
    test::write(node.dir / "etc/resolv.conf", "nameserver 127.0.0.1\n");
    auto plan = node.apply("dns");
    CHECK_THAT(plan.blocker, Catch::Contains("only loopback nameservers (127.0.0.1)") && Catch::Contains("forward to itself"));
    CHECK_FALSE(std::filesystem::exists(node.dir / "etc/default/kubelet"));
    std::filesystem::remove(node.dir / "etc/resolv.conf");
    CHECK_THAT(node.apply("dns").blocker, Catch::Contains("no /etc/resolv.conf"));
}

TEST_CASE("the node IP is the address in the profile's CIDR, written as kubelet's --node-ip") {
    node_copy node("ubuntu-2204-pi");
    auto plan = node.apply("node-ip", with_cidr("127.0.0.0/8"));
    CHECK(plan.blocker.empty());
    CHECK(node.kubelet() == "KUBELET_EXTRA_ARGS=\"--max-pods=60 --node-ip=127.0.0.1\"\n");
    CHECK(node.apply("node-ip", with_cidr("127.0.0.0/8")).edits.empty());
}

TEST_CASE("without a CIDR the node IP is the source address of the route to the coordinator") {
    node_copy node("kali-pi");
    host_profile p;
    p.coordinator = "https://127.0.0.1:8443";
    auto plan = node.apply("node-ip", p);
    CHECK(plan.blocker.empty());
    CHECK_THAT(plan.notes.at(0), Catch::Contains("node IP 127.0.0.1") && Catch::Contains("route to the coordinator"));
    CHECK(node.kubelet() == "KUBELET_EXTRA_ARGS=\"--node-ip=127.0.0.1\"\n");
}

TEST_CASE("a CIDR no address is in, or a malformed one, blocks the step and writes nothing") {
    node_copy node("kali-pi");
    CHECK_THAT(node.apply("node-ip", with_cidr("203.0.113.0/24")).blocker,
               Catch::Contains("no IPv4 address of this node is in 203.0.113.0/24") && Catch::Contains("127.0.0.1 (lo)"));
    CHECK_THAT(node.apply("node-ip", with_cidr("10.0.0.0/33")).blocker, Catch::Contains("not an IPv4 CIDR"));
    CHECK_THAT(node.apply("node-ip", with_cidr("10.0.0.0")).blocker, Catch::Contains("not an IPv4 CIDR"));
    CHECK_FALSE(std::filesystem::exists(node.dir / "etc/default/kubelet"));
}

TEST_CASE("kubelet flags: a later value replaces an earlier one, other flags and lines stay") {
    const std::string file = "# kubelet flags\nKUBELET_EXTRA_ARGS=--node-ip=10.0.0.5 --max-pods=60\nOTHER=1\n";
    CHECK(kubelet_flag(file, "node-ip") == "10.0.0.5");
    CHECK(with_kubelet_flag(file, "node-ip", "192.168.1.20") ==
          "# kubelet flags\nKUBELET_EXTRA_ARGS=\"--max-pods=60 --node-ip=192.168.1.20\"\nOTHER=1\n");
    CHECK(with_kubelet_flag("", "node-ip", "192.168.1.20") == "KUBELET_EXTRA_ARGS=\"--node-ip=192.168.1.20\"\n");
    CHECK_FALSE(kubelet_flag("KUBELET_EXTRA_ARGS=\"\"\n", "node-ip").has_value());
}
