#include "agent/configure.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;
using namespace graft::agent;

namespace {

// Records what would be done to the running system, in order (the seam's test double). Restarting
// systemd-sysctl.service sets the values under ROOT/proc/sys, as the real one sets the kernel's, unless told not to.
struct recording_system : live_system {
    std::string root;
    bool sysctl_takes_effect = true;
    std::vector<std::string> calls;
    void set_static_hostname(const std::string& n) override { calls.push_back("hostname " + n); }
    void restart_unit(const std::string& u) override {
        calls.push_back("restart " + u);
        if (u == "systemd-sysctl.service" && sysctl_takes_effect)
            for (const char* f : {"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables", "net/ipv4/ip_forward"})
                test::write(root + "/proc/sys/" + f, "1\n");
    }
    void stop_unit(const std::string& u) override { calls.push_back("stop " + u); }
    void enable_and_start_unit(const std::string& u) override { calls.push_back("enable-start " + u); }
    void swapoff(const std::string& p) override { calls.push_back("swapoff " + p); }
    void remove_zram(const std::string& i) override { calls.push_back("zram-remove " + i); }
    void run(const std::vector<std::string>& argv) override { calls.push_back("run " + argv.at(0)); }
    void reboot() override { calls.push_back("reboot"); }
};

struct node {
    test::temp_dir dir;
    recording_system live;
    agent_state state;
    host_profile profile;
    explicit node(const std::string& fixture) {
        test::copy_host_fixture(fixture, dir.path().string());
        live.root = dir.path().string();
        profile.node_name = "node-1";
    }
    configure_result configure() { return configure_host(host(dir.path().string()), profile, state, &live); }
    // What a reboot changes: a new boot_id, and the kernel the boot file now asks for.
    void reboot(const std::string& controllers) {
        test::write(dir / "proc/sys/kernel/random/boot_id", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a\n");
        test::write(dir / "sys/fs/cgroup/cgroup.controllers", controllers);
    }
    bool called(const std::string& call) const { return std::find(live.calls.begin(), live.calls.end(), call) != live.calls.end(); }
};

}  // namespace

TEST_CASE("a Pi whose kernel lacks the memory controller is configured, then asks for exactly one reboot") {
    node pi("rpi-os-bookworm");
    auto r = pi.configure();
    CHECK(r.outcome == configure_outcome::reboot);
    CHECK(pi.state.reboot_boot_file == "/boot/firmware/cmdline.txt");
    CHECK(pi.state.reboot_boot_id == "5d1b7c6e-0f4a-4d8e-9b2a-1c3e5f7a9b0d");
    // The live actions went to the running system; the reboot itself is the caller's, after it saved the state.
    CHECK(pi.called("hostname node-1"));
    CHECK(pi.called("swapoff /var/swap"));
    CHECK(pi.called("stop dphys-swapfile.service"));
    CHECK(pi.called("restart containerd.service"));
    CHECK_FALSE(pi.called("reboot"));
    // Every step's outcome, in order, for the coordinator to show.
    REQUIRE(r.steps.size() == all_steps().size());
    CHECK(r.steps.front().step == "hostname");
    CHECK(r.steps.front().outcome == "changed");
    CHECK_THAT(r.steps.front().detail, Catch::Contains("/etc/hostname"));
    auto cmdline = std::find_if(r.steps.begin(), r.steps.end(), [](const auto& s) { return s.step == "kernel-cmdline"; });
    REQUIRE(cmdline != r.steps.end());
    CHECK(cmdline->outcome == "reboot");
}

TEST_CASE("after the reboot the change has taken effect: configured, and the reboot record is cleared") {
    node pi("rpi-os-bookworm");
    REQUIRE(pi.configure().outcome == configure_outcome::reboot);
    pi.reboot("cpuset cpu io memory pids\n");
    auto r = pi.configure();
    CHECK(r.outcome == configure_outcome::configured);
    CHECK(pi.state.reboot_boot_file.empty());
}

TEST_CASE("a change that did not take effect after the reboot is an error naming the file and the kernel, never a second reboot") {
    node pi("rpi-os-bookworm");
    REQUIRE(pi.configure().outcome == configure_outcome::reboot);
    pi.reboot("cpuset cpu io pids\n");
    auto r = pi.configure();
    CHECK(r.outcome == configure_outcome::failed);
    CHECK_THAT(r.message, Catch::Contains("/boot/firmware/cmdline.txt did not take effect after the reboot") &&
                              Catch::Contains("\"cpuset cpu io pids\"") && Catch::Contains("cgroup_disable=memory"));
    // The step is reported failed, and the steps after it as not run.
    auto failed = std::find_if(r.steps.begin(), r.steps.end(), [](const auto& s) { return s.outcome == "failed"; });
    REQUIRE(failed != r.steps.end());
    CHECK(failed->step == "kernel-cmdline");
    CHECK(r.steps.size() == all_steps().size());
    CHECK(r.steps.back().outcome == "not-run");
}

TEST_CASE("an agent restarted before the reboot happened asks for the same reboot again") {
    node pi("rpi-os-bookworm");
    REQUIRE(pi.configure().outcome == configure_outcome::reboot);
    auto again = pi.configure();  // same boot_id: no reboot took place
    CHECK(again.outcome == configure_outcome::reboot);
    CHECK(pi.state.reboot_boot_file == "/boot/firmware/cmdline.txt");
}

TEST_CASE("a boot file edited by a run that then failed is still named when the reboot is asked for, and rebooted for once") {
    node pi("rpi-os-bookworm");
    pi.live.sysctl_takes_effect = false;  // a later step fails after cmdline.txt was written
    auto first = pi.configure();
    REQUIRE(first.outcome == configure_outcome::failed);
    CHECK_THAT(first.message, Catch::StartsWith("sysctl"));
    pi.live.sysctl_takes_effect = true;
    auto second = pi.configure();  // cmdline.txt already asks for the change: no edit this time
    CHECK(second.outcome == configure_outcome::reboot);
    CHECK(second.message == "the kernel command line in /boot/firmware/cmdline.txt changed");
    CHECK(pi.state.reboot_boot_file == "/boot/firmware/cmdline.txt");
    pi.reboot("cpuset cpu io pids\n");  // and it did not take
    auto third = pi.configure();
    CHECK(third.outcome == configure_outcome::failed);
    CHECK_THAT(third.message, Catch::Contains("/boot/firmware/cmdline.txt did not take effect after the reboot"));
}

TEST_CASE("a node that needs no kernel change is configured without a reboot") {
    node arch("arch-x86");
    CHECK(arch.configure().outcome == configure_outcome::configured);
    CHECK(arch.called("swapoff /dev/zram0"));
    CHECK(arch.called("zram-remove 0"));
}

TEST_CASE("a blocked step fails configuration with the step and the reason, and asks nothing of the running system after it") {
    node kali("kali-pi");
    test::write(kali.dir / "boot/cmdline.txt", "console=tty1\nroot=/dev/mmcblk0p2\n");
    auto r = kali.configure();
    CHECK(r.outcome == configure_outcome::failed);
    CHECK_THAT(r.message, Catch::StartsWith("kernel-cmdline: /boot/cmdline.txt has 2 lines"));
    CHECK_FALSE(kali.called("reboot"));
}

TEST_CASE("sysctl values that do not read back from /proc/sys after applying fail configuration, naming them") {
    node arch("arch-x86");
    arch.live.sysctl_takes_effect = false;
    auto r = arch.configure();
    CHECK(r.outcome == configure_outcome::failed);
    CHECK_THAT(r.message, Catch::StartsWith("sysctl: /proc/sys/net/bridge/bridge-nf-call-iptables is (missing)") &&
                              Catch::Contains("it should be 1"));
}

TEST_CASE("on a node without systemd the hostname is set with the hostname command, not through hostnamed") {
    node alpine("alpine-pi");
    alpine.configure();
    CHECK(alpine.called("run hostname"));
    CHECK_FALSE(alpine.called("hostname node-1"));
}
