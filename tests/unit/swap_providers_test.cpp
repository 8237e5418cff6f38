// The swap step against the swap providers of the images graft supports. Debian's own packages (zram-tools,
// swapspace, dphys-swapfile, systemd-zram-generator, unpacked by scripts/unpack-debs) are installed into a node tree
// and enabled as their maintainer scripts enable them; systemd's own `systemctl --root` then reads what graft left.
#include "agent/steps/step.hpp"
#include "proto/subprocess.hpp"

#include "support/steps.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace graft;
using namespace graft::agent;
namespace fs = std::filesystem;

namespace {

struct node_tree {
    test::temp_dir dir;
    node_tree() {
        test::write(dir / "lib/systemd/systemd", "");
        fs::create_directories(dir / "etc/systemd/system/multi-user.target.wants");
        swaps({});
    }
    // Unpacks a package into the tree and enables UNIT as deb-systemd-helper does: a link in multi-user.target.wants.
    void install(const std::string& package, const std::string& unit = {}) {
        fs::copy(test::unpacked_package(package), dir.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
        if (!unit.empty()) enable(unit);
    }
    void enable(const std::string& unit) {
        const std::string target = fs::exists(dir / ("etc/systemd/system/" + unit)) ? "/etc/systemd/system/" + unit
                                                                                    : "/lib/systemd/system/" + unit;
        fs::create_symlink(target, dir / ("etc/systemd/system/multi-user.target.wants/" + unit));
    }
    void swaps(const std::vector<std::pair<std::string, std::string>>& active) {
        std::string text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        for (const auto& [name, type] : active) text += name + "\t\t" + type + "\t\t102396\t\t0\t\t-2\n";
        test::write(dir / "proc/swaps", text);
    }
    step_plan apply() {
        host h(dir.path().string());
        auto plan = test::step_named("swap").probe(h, {});
        if (plan.blocker.empty()) REQUIRE(apply_edits(h, plan).empty());
        return plan;
    }
    // systemd's own answer for the tree: enabled, disabled, masked, ...
    std::string is_enabled(const std::string& unit) {
        auto r = proto::run_process({"systemctl", "--root=" + dir.path().string(), "is-enabled", unit}, std::chrono::seconds(30));
        return r.output.substr(0, r.output.find('\n'));
    }
};

}  // namespace

TEST_CASE("Debian's zram-tools, swapspace, dphys-swapfile and zram-generator are all stopped for good, as systemd reads it") {
    node_tree node;
    node.install("zram-tools_all", "zramswap.service");
    node.install("swapspace_amd64", "swapspace.service");
    node.install("dphys-swapfile_all", "dphys-swapfile.service");
    node.install("systemd-zram-generator_amd64");
    node.swaps({{"/dev/zram0", "partition"}, {"/var/swap", "file"}, {"/var/lib/swapspace/1", "file"}});
    for (const char* unit : {"zramswap.service", "swapspace.service", "dphys-swapfile.service"}) REQUIRE(node.is_enabled(unit) == "enabled");

    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    for (const char* unit : {"zramswap.service", "swapspace.service", "dphys-swapfile.service"}) {
        INFO(unit);
        CHECK(node.is_enabled(unit) == "masked");
    }
    // zram-generator's configuration can come from /run, which outranks /etc: the generator itself is masked.
    CHECK(fs::read_symlink(node.dir / "etc/systemd/system-generators/zram-generator") == "/dev/null");
    for (const char* swap : {"/dev/zram0", "/var/swap", "/var/lib/swapspace/1"}) {
        bool off = false;
        for (const auto& a : plan.actions) off |= a.what == live_action::kind::swapoff && a.args.at(0) == swap;
        CHECK(off);
    }
    CHECK(node.apply().edits.empty());
}

TEST_CASE("Ubuntu's zram-config and Armbian's armbian-zram-config are masked") {
    node_tree node;
    test::write(node.dir / "lib/systemd/system/zram-config.service",
                "[Unit]\nDescription=Initializes zram swaping\n[Service]\nExecStart=/usr/bin/init-zram-swapping\n"
                "ExecStop=/usr/bin/end-zram-swapping\nType=oneshot\nRemainAfterExit=true\n[Install]\nWantedBy=multi-user.target\n");
    test::write(node.dir / "lib/systemd/system/armbian-zram-config.service",
                "[Unit]\nDescription=Armbian ZRAM config\n[Service]\nType=oneshot\nExecStart=/usr/lib/armbian/armbian-zram-config start\n"
                "RemainAfterExit=yes\n[Install]\nWantedBy=basic.target\n");
    node.enable("zram-config.service");
    node.enable("armbian-zram-config.service");
    node.swaps({{"/dev/zram0", "partition"}});
    REQUIRE(node.apply().blocker.empty());
    CHECK(node.is_enabled("zram-config.service") == "masked");
    CHECK(node.is_enabled("armbian-zram-config.service") == "masked");
}

TEST_CASE("Raspberry Pi OS trixie's rpi-swap is told Mechanism=none in its drop-in directory") {
    node_tree node;
    test::write(node.dir / "usr/lib/systemd/system-generators/rpi-swap-generator", "#!/bin/sh\n");
    test::write(node.dir / "usr/lib/systemd/system-generators/zram-generator", "");
    test::write(node.dir / "etc/rpi/swap.conf", "[Main]\n#Mechanism=auto\n");
    node.swaps({{"/dev/zram0", "partition"}, {"/dev/loop0", "partition"}, {"/var/swap", "file"}});
    auto plan = node.apply();
    // The loop device of zram+file is rpi-swap's own, but graft cannot tell: it is named, not guessed.
    CHECK_THAT(plan.blocker, Catch::Contains("/dev/loop0") && Catch::Contains("nothing was changed"));
    CHECK_FALSE(fs::exists(node.dir / "etc/rpi/swap.conf.d"));

    node.swaps({{"/dev/zram0", "partition"}, {"/var/swap", "file"}});
    plan = node.apply();
    REQUIRE(plan.blocker.empty());
    CHECK(test::read(node.dir / "etc/rpi/swap.conf.d/90-graft.conf").find("[Main]\nMechanism=none\n") != std::string::npos);
    CHECK(test::read(node.dir / "etc/rpi/swap.conf") == "[Main]\n#Mechanism=auto\n");
    CHECK(fs::read_symlink(node.dir / "etc/systemd/system-generators/zram-generator") == "/dev/null");
}

TEST_CASE("DietPi's first-boot swap file setting is turned to 0, everything else in dietpi.txt kept") {
    node_tree node;
    const std::string txt = "AUTO_SETUP_LOCALE=C.UTF-8\nAUTO_SETUP_SWAPFILE_SIZE=1\nAUTO_SETUP_SWAPFILE_LOCATION=/var/swap\n";
    test::write(node.dir / "boot/dietpi.txt", txt);
    node.swaps({{"/var/swap", "file"}});
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    CHECK(test::read(node.dir / "boot/dietpi.txt") ==
          "AUTO_SETUP_LOCALE=C.UTF-8\nAUTO_SETUP_SWAPFILE_SIZE=0\nAUTO_SETUP_SWAPFILE_LOCATION=/var/swap\n");
    CHECK(test::read(node.dir / "boot/dietpi.txt.graft-backup") == txt);
}

TEST_CASE("a unit of the user's that runs swapon is found by what it does, and disabled") {
    node_tree node;
    test::write(node.dir / "etc/systemd/system/bigswap.service",
                "[Service]\nType=oneshot\nExecStart=/sbin/swapon /data/bigswap\nRemainAfterExit=yes\n[Install]\nWantedBy=multi-user.target\n");
    node.enable("bigswap.service");
    node.swaps({{"/data/bigswap", "file"}});
    REQUIRE(node.is_enabled("bigswap.service") == "enabled");
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    CHECK(node.is_enabled("bigswap.service") == "disabled");
}

TEST_CASE("an active swap no provider explains blocks the step naming it, and nothing is changed") {
    node_tree node;
    test::write(node.dir / "etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n");
    node.swaps({{"/data/mystery", "file"}});
    auto plan = node.apply();
    CHECK_THAT(plan.blocker, Catch::Contains("swap on /data/mystery is active") && Catch::Contains("systemctl"));
    CHECK(plan.edits.empty());
    CHECK(plan.actions.empty());
    CHECK(test::read(node.dir / "etc/fstab") == "/dev/sda1 / ext4 defaults 0 1\n");
}

TEST_CASE("fstab explains its swap files, escaped names included, and its partitions named by UUID") {
    node_tree node;
    test::write(node.dir / "etc/fstab", "UUID=0a1b / ext4 defaults 0 1\n/swap\\040file none swap sw 0 0\nUUID=77aa none swap sw 0 0\n");
    node.swaps({{"/swap\\040file", "file"}, {"/dev/sda3", "partition"}});
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    bool off = false;
    for (const auto& a : plan.actions) off |= a.what == live_action::kind::swapoff && a.args.at(0) == "/swap file";
    CHECK(off);
    CHECK(test::read(node.dir / "etc/fstab") == "UUID=0a1b / ext4 defaults 0 1\n"
                                                "# graft: swap off for Kubernetes: /swap\\040file none swap sw 0 0\n"
                                                "# graft: swap off for Kubernetes: UUID=77aa none swap sw 0 0\n");
    // Until the reboot, /proc/swaps may still list them: the lines graft turned off still explain them.
    CHECK(node.apply().blocker.empty());
}
