// graft-agent plan and prepare as an operator runs them against a node tree (a mounted image or a copy).
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace graft;
namespace fs = std::filesystem;

namespace {

std::string copy_fixture(const test::temp_dir& dir, const std::string& fixture) {
    test::copy_host_fixture(fixture, dir / "root");
    test::write(dir / "profile.json", R"({"node_name": "node-7", "swap": "off"})");
    return dir / "root";
}

}  // namespace

TEST_CASE("plan shows the changes and changes nothing, prepare makes them, and the next plan has no file to change") {
    test::temp_dir dir;
    const std::string root = copy_fixture(dir, "rpi-os-bookworm");
    const std::string cmdline = test::read(root + "/boot/firmware/cmdline.txt");

    auto plan = test::run({GRAFT_AGENT_BIN, "plan", "--root", root, "--profile", dir / "profile.json"});
    CHECK(plan.exit_code == 0);
    CHECK_THAT(plan.output, Catch::Contains("+++ /boot/firmware/cmdline.txt") && Catch::Contains("+127.0.1.1\tnode-7") &&
                                Catch::Contains("reboot: the kernel command line change takes effect after one reboot"));
    CHECK(test::read(root + "/boot/firmware/cmdline.txt") == cmdline);

    auto prepared = test::run({GRAFT_AGENT_BIN, "prepare", "--root", root, "--profile", dir / "profile.json"});
    CHECK(prepared.exit_code == 0);
    CHECK_THAT(prepared.output, Catch::Contains("the actions above are listed, not performed"));
    CHECK(test::read(root + "/etc/hostname") == "node-7\n");

    auto again = test::run({GRAFT_AGENT_BIN, "plan", "--root", root, "--profile", dir / "profile.json"});
    CHECK(again.exit_code == 0);
    CHECK(again.output.find("+++ ") == std::string::npos);
    CHECK_THAT(again.output, Catch::Contains("== hostname: nothing to change"));
}

TEST_CASE("prepare on a blocked node exits 1 naming the file, applies the other steps, and leaves the blocked file") {
    test::temp_dir dir;
    const std::string root = copy_fixture(dir, "kali-pi");
    test::write(root + "/boot/cmdline.txt", "console=tty1\nroot=/dev/mmcblk0p2\n");
    auto r = test::run({GRAFT_AGENT_BIN, "prepare", "--root", root, "--profile", dir / "profile.json"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("kernel-cmdline: BLOCKED") && Catch::Contains("/boot/cmdline.txt has 2 lines"));
    CHECK(test::read(root + "/boot/cmdline.txt") == "console=tty1\nroot=/dev/mmcblk0p2\n");
    CHECK(test::read(root + "/etc/hostname") == "node-7\n");
}

TEST_CASE("a bad profile names its field, and nothing is changed") {
    test::temp_dir dir;
    copy_fixture(dir, "kali-pi");
    test::write(dir / "bad.json", R"({"node_name": 7})");
    auto r = test::run({GRAFT_AGENT_BIN, "prepare", "--root", dir / "root", "--profile", dir / "bad.json"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(dir / "bad.json") && Catch::Contains("field 'node_name'"));
    CHECK(test::read(dir / "root/etc/hostname") == "kali\n");
}

TEST_CASE("prepare says when a reboot is needed, and does not reboot by itself") {
    test::temp_dir dir;
    const std::string root = copy_fixture(dir, "kali-pi");
    auto r = test::run({GRAFT_AGENT_BIN, "prepare", "--root", root, "--profile", dir / "profile.json"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("Reboot this node to finish"));
}

TEST_CASE("a read-only boot partition fails that step with the file and the remedy, leaving the boot file untouched and the rest applied") {
    test::temp_dir dir;
    const std::string root = copy_fixture(dir, "kali-pi");
    const std::string cmdline = test::read(root + "/boot/cmdline.txt");
    // A private mount namespace in which /boot of the node is a read-only bind mount, as a FAT partition mounted ro.
    auto r = test::run({"unshare", "--mount", "sh", "-c",
                        "mount --bind \"$1/boot\" \"$1/boot\" && mount -o remount,bind,ro \"$1/boot\" && "
                        "exec \"$2\" prepare --root \"$1\" --profile \"$3\"",
                        "sh", root, GRAFT_AGENT_BIN, dir / "profile.json"});
    INFO(r.output);
    REQUIRE(r.output.find("mount:") == std::string::npos);  // the test's own premise: the read-only mount worked
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("could not apply") && Catch::Contains("/boot/cmdline.txt") &&
                             Catch::Contains("Read-only file system") && Catch::Contains("remount it read-write"));
    CHECK(test::read(root + "/boot/cmdline.txt") == cmdline);
    CHECK(test::read(root + "/etc/hostname") == "node-7\n");  // steps on the writable root went ahead
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(root + "/boot")) ++entries;
    CHECK(entries == 1);  // no temporary file left beside cmdline.txt
}
