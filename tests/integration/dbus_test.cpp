// The agent's live_system against a real dbus-daemon started by the test, with the systemd services played by
// tests/support/system_services.cpp: real sd-bus marshalling in both directions.
#include "agent/system/live_system.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <thread>

using namespace graft;
using namespace graft::agent;

namespace {

// A dbus-daemon configuration listening at `address`, authenticating as `auth` says, where anyone may own any name.
std::string bus_config(const std::string& address, const std::string& auth) {
    return R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>)" + address + R"(</listen>
  )" + auth + R"(
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
)";
}

struct private_bus {
    test::temp_dir dir;
    std::string address = "unix:path=" + (dir / "bus");
    std::unique_ptr<test::child> daemon, services;

    private_bus() {
        // A bus of our own, where the test service may own systemd's names (the policy of Debian's session.conf).
        test::write(dir / "bus.conf", bus_config(address, "<auth>EXTERNAL</auth>"));
        daemon = std::make_unique<test::child>(
            std::vector<std::string>{"/usr/bin/dbus-daemon", "--config-file=" + (dir / "bus.conf"), "--nofork", "--nopidfile"},
            dir / "dbus-daemon.log");
        wait_for([&] { return std::filesystem::exists(dir / "bus"); }, "dbus-daemon's socket");
        services = std::make_unique<test::child>(
            std::vector<std::string>{GRAFT_TEST_SYSTEM_SERVICES_BIN, address, dir / "calls"}, dir / "services.log");
        wait_for([&] { return std::filesystem::exists(dir / "calls") && calls().starts_with("ready\n"); }, "the test services");
    }

    template <class Pred>
    void wait_for(Pred ready, const std::string& what) {
        for (int i = 0; i < 250; ++i) {
            if (ready()) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        FAIL(what + " did not come up: " + test::read(dir / "dbus-daemon.log"));
    }

    std::string calls() const { return test::read(dir / "calls"); }
};

}  // namespace

TEST_CASE("each live action reaches the systemd service it names, with the arguments systemd expects") {
    private_bus bus;
    auto system = connect_live_system(bus.address);
    perform(live_action::set_hostname("node-1"), *system);
    perform(live_action::restart_unit("containerd.service"), *system);
    perform(live_action::stop_unit("dphys-swapfile.service"), *system);
    perform(live_action::enable_and_start_unit("systemd-resolved.service"), *system);
    system->reboot();
    CHECK(bus.calls() == "ready\n"
                         "SetStaticHostname node-1 false\n"
                         "RestartUnit containerd.service replace\n"
                         "StopUnit dphys-swapfile.service replace\n"
                         "EnableUnitFiles systemd-resolved.service false true\n"
                         "StartUnit systemd-resolved.service replace\n"
                         "Reboot false\n");
}

TEST_CASE("a D-Bus error from systemd is an error naming the call, the unit and systemd's reason") {
    private_bus bus;
    auto system = connect_live_system(bus.address);
    CHECK_THROWS_WITH(perform(live_action::restart_unit("missing.service"), *system),
                      "D-Bus call org.freedesktop.systemd1.Manager.RestartUnit(missing.service) failed: "
                      "org.freedesktop.systemd1.NoSuchUnit: Unit missing.service not found.");
    CHECK(bus.calls() == "ready\n");
}

TEST_CASE("no bus at the address is an error that names it") {
    test::temp_dir dir;
    CHECK_THROWS_WITH(connect_live_system("unix:path=" + (dir / "nothing")),
                      Catch::Contains("cannot connect to D-Bus at unix:path=" + (dir / "nothing")));
}

TEST_CASE("a run action that fails reports the program and its output") {
    private_bus bus;
    auto system = connect_live_system(bus.address);
    CHECK_THROWS_WITH(perform(live_action::run({"sh", "-c", "echo no such module >&2; exit 1"}, "load modules"), *system),
                      Catch::Contains("sh exited with status 1: no such module"));
}

TEST_CASE("a bus that refuses EXTERNAL authentication is an error naming the bus and its answer") {
    test::temp_dir dir;
    const std::string address = "unix:path=" + (dir / "bus");
    // A dbus-daemon that only takes anonymous clients: it answers our EXTERNAL with REJECTED.
    test::write(dir / "bus.conf", bus_config(address, "<auth>ANONYMOUS</auth>\n  <allow_anonymous/>"));
    test::child daemon({"/usr/bin/dbus-daemon", "--config-file=" + (dir / "bus.conf"), "--nofork", "--nopidfile"}, dir / "log");
    for (int i = 0; i < 250 && !std::filesystem::exists(dir / "bus"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK_THROWS_WITH(connect_live_system(address),
                      Catch::Contains("D-Bus at " + address + " refused EXTERNAL authentication") && Catch::Contains("REJECTED"));
}
