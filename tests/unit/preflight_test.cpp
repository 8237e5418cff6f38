#include "agent/steps/step.hpp"

#include "support/steps.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;
using namespace graft::agent;

namespace {

step_plan preflight(const test::temp_dir& dir) {
    return test::step_named("preflight").probe(host(dir.path().string()), {});
}

bool has_note(const step_plan& plan, const std::string& needle) {
    for (const auto& n : plan.notes)
        if (n.find(needle) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("preflight reads CFS bandwidth from /proc/config.gz, /boot/config-RELEASE or the cgroup files") {
    test::temp_dir pi, ubuntu, jetson;
    test::copy_host_fixture("rpi-os-bookworm", pi.path().string());
    test::copy_host_fixture("ubuntu-2204-pi", ubuntu.path().string());
    test::copy_host_fixture("jetson-l4t", jetson.path().string());
    auto a = preflight(pi), b = preflight(ubuntu), c = preflight(jetson);
    CHECK(a.blocker.empty());
    CHECK(has_note(a, "CFS bandwidth control: built in (/proc/config.gz)"));
    CHECK(has_note(b, "CFS bandwidth control: built in (/boot/config-5.15.0-1049-raspi)"));
    CHECK(has_note(c, "CFS bandwidth control: present"));
    CHECK(has_note(a, "free under /var/lib"));
    CHECK(has_note(a, "memory controller: missing until the kernel command line change takes effect"));
    CHECK(a.edits.empty());
}

TEST_CASE("a kernel built without CONFIG_CFS_BANDWIDTH blocks the node, naming the option, where it was read and the fix") {
    test::temp_dir pi;
    test::copy_host_fixture("rpi-os-bookworm", pi.path().string());
    auto r = test::run({"sh", "-c", "printf 'CONFIG_CGROUPS=y\\n# CONFIG_CFS_BANDWIDTH is not set\\n' | gzip -n > '" +
                                        (pi / "proc/config.gz") + "'"});
    REQUIRE(r.exit_code == 0);
    auto plan = preflight(pi);
    CHECK_THAT(plan.blocker, Catch::Contains("without CONFIG_CFS_BANDWIDTH (/proc/config.gz)") &&
                                 Catch::Contains("CPU limits") && Catch::Contains("Raspberry Pi OS kernel"));
}

TEST_CASE("with no kernel configuration and no cgroup files, preflight says it cannot tell rather than guess") {
    test::temp_dir kali;
    test::copy_host_fixture("kali-pi", kali.path().string());
    auto plan = preflight(kali);
    CHECK(plan.blocker.empty());
    CHECK(has_note(plan, "cannot tell"));
}
