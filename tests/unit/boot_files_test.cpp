// The kernel-cmdline step on the boot layouts of current images: the file it edits is the one the firmware or boot
// script reads, and GRUB's and fstab's edits are read back by grub-mkconfig and findmnt.
#include "agent/steps/step.hpp"
#include "proto/subprocess.hpp"

#include "support/steps.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

using namespace graft;
using namespace graft::agent;
namespace fs = std::filesystem;

namespace {

// A node whose kernel lacks the memory controller (cgroup v2, as the Pi firmware's cgroup_disable=memory leaves it).
struct pi_node {
    test::temp_dir dir;
    explicit pi_node(const std::string& fixture = "ubuntu-2204-pi") {
        test::copy_host_fixture(fixture, dir.path().string());
        write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io pids\n");
    }
    std::string read(const std::string& p) const { return test::read(dir / p); }
    void write(const std::string& p, const std::string& content) const { test::write(dir / p, content); }
    step_plan apply(const std::string& step = "kernel-cmdline") const {
        host h(dir.path().string());
        auto plan = test::step_named(step).probe(h, {});
        if (plan.blocker.empty()) REQUIRE(apply_edits(h, plan).empty());
        return plan;
    }
};

bool has_note(const step_plan& plan, const std::string& text) {
    for (const auto& n : plan.notes)
        if (n.find(text) != std::string::npos) return true;
    return false;
}

const std::string ubuntu_line = "console=serial0,115200 multipath=off dwc_otg.lpm_enable=0 console=tty1 root=LABEL=writable "
                                "rootfstype=ext4 panic=10 rootwait fixrtc\n";
const std::string wanted = " cgroup_enable=memory cgroup_memory=1\n";

}  // namespace

TEST_CASE("Ubuntu's A/B boot: the command line goes to os_prefix's current/cmdline.txt and to the tryboot section's new/") {
    pi_node node;
    fs::remove(node.dir / "boot/firmware/cmdline.txt");
    // The layout of Ubuntu 25.10 for the Pi (piboot-try): boot assets in current/, the ones on trial in new/.
    node.write("boot/firmware/config.txt", "[all]\nkernel=vmlinuz\ncmdline=cmdline.txt\ninitramfs initrd.img followkernel\n"
                                           "os_prefix=current/\n\n[tryboot]\nos_prefix=new/\n\n[all]\ndtparam=audio=on\n");
    node.write("boot/firmware/current/cmdline.txt", ubuntu_line);
    node.write("boot/firmware/new/cmdline.txt", ubuntu_line);
    node.write("boot/firmware/old/cmdline.txt", ubuntu_line);
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    CHECK(plan.reboot_file == "/boot/firmware/current/cmdline.txt");
    CHECK(node.read("boot/firmware/current/cmdline.txt") == ubuntu_line.substr(0, ubuntu_line.size() - 1) + wanted);
    CHECK(node.read("boot/firmware/new/cmdline.txt") == ubuntu_line.substr(0, ubuntu_line.size() - 1) + wanted);
    CHECK(node.read("boot/firmware/old/cmdline.txt") == ubuntu_line);  // not read by the firmware
    CHECK_FALSE(fs::exists(node.dir / "boot/firmware/cmdline.txt"));
    CHECK(has_note(plan, "chose /boot/firmware/current/cmdline.txt: /boot/firmware/config.txt sets os_prefix=current/"));
    CHECK(has_note(plan, "[tryboot]"));
    CHECK(node.apply().edits.empty());
}

TEST_CASE("config.txt's cmdline= and include are followed, and its none-filtered sections are not") {
    pi_node node;
    node.write("boot/firmware/config.txt", "include syscfg.txt\n[none]\nos_prefix=nowhere/\n[all]\n");
    node.write("boot/firmware/syscfg.txt", "cmdline=nobtcmd.txt\n");
    node.write("boot/firmware/nobtcmd.txt", ubuntu_line);
    const auto untouched = node.read("boot/firmware/cmdline.txt");
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    CHECK(plan.reboot_file == "/boot/firmware/nobtcmd.txt");
    CHECK(node.read("boot/firmware/nobtcmd.txt").ends_with(wanted));
    CHECK(node.read("boot/firmware/cmdline.txt") == untouched);
}

TEST_CASE("an os_prefix set for one board model leaves the others reading the top cmdline.txt: both are edited") {
    pi_node node;
    node.write("boot/firmware/config.txt", "[pi5]\nos_prefix=pi5/\n[all]\narm_64bit=1\n");
    node.write("boot/firmware/pi5/cmdline.txt", ubuntu_line);
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    CHECK(node.read("boot/firmware/pi5/cmdline.txt").ends_with(wanted));
    CHECK(node.read("boot/firmware/cmdline.txt").ends_with(wanted));
    CHECK(plan.edits.size() == 2);
}

TEST_CASE("an os_prefix whose cmdline.txt does not exist blocks the step naming both, and nothing is written") {
    pi_node node;
    node.write("boot/firmware/config.txt", "os_prefix=current/\n");
    const auto before = node.read("boot/firmware/cmdline.txt");
    auto plan = node.apply();
    CHECK_THAT(plan.blocker, Catch::Contains("os_prefix=current/") && Catch::Contains("/boot/firmware/current/cmdline.txt") &&
                                 Catch::Contains("nothing was changed"));
    CHECK(node.read("boot/firmware/cmdline.txt") == before);
}

TEST_CASE("Debian's raspi-firmware: the arguments also go to /etc/default/raspi-extra-cmdline, which it rebuilds cmdline.txt from") {
    pi_node node;
    node.write("etc/kernel/postinst.d/z50-raspi-firmware", "#!/bin/sh\n");
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    CHECK(node.read("boot/firmware/cmdline.txt").ends_with(wanted));
    CHECK(node.read("etc/default/raspi-extra-cmdline") == "cgroup_enable=memory cgroup_memory=1\n");
    CHECK(has_note(plan, "raspi-extra-cmdline"));
    // What raspi-firmware writes at the next kernel update (console and root, then the extra line) keeps them.
    const auto regenerated = "console=tty0 root=LABEL=RASPIROOT rw " + node.read("etc/default/raspi-extra-cmdline");
    CHECK(regenerated.ends_with(wanted));
    CHECK(node.apply().edits.empty());

    pi_node user;
    user.write("etc/default/raspi-extra-cmdline", "quiet\n");
    user.apply();
    CHECK(user.read("etc/default/raspi-extra-cmdline") == "quiet cgroup_enable=memory cgroup_memory=1\n");
}

TEST_CASE("Armbian: extraargs in armbianEnv.txt is extended, or added, and every other line kept") {
    pi_node node("arch-x86");  // a node whose kernel lacks the memory controller, with no Pi firmware files
    fs::remove(node.dir / "etc/default/grub");
    const std::string env = "verbosity=1\nbootlogo=false\noverlay_prefix=meson\nrootdev=UUID=0b3c\nrootfstype=ext4\n"
                            "extraargs=net.ifnames=0\nusbstoragequirks=0x2537:0x1066:u\n";
    node.write("boot/armbianEnv.txt", env);
    node.write("boot/extlinux/extlinux.conf", "LABEL a\n  APPEND root=/dev/sda1\n");  // not what Armbian's boot.scr reads
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    CHECK(plan.reboot_file == "/boot/armbianEnv.txt");
    const std::string added = " cgroup_enable=memory cgroup_memory=1";
    CHECK(node.read("boot/armbianEnv.txt") == "verbosity=1\nbootlogo=false\noverlay_prefix=meson\nrootdev=UUID=0b3c\n"
                                              "rootfstype=ext4\nextraargs=net.ifnames=0" + added + "\nusbstoragequirks=0x2537:0x1066:u\n");
    CHECK(node.read("boot/extlinux/extlinux.conf") == "LABEL a\n  APPEND root=/dev/sda1\n");
    CHECK(has_note(plan, "chose /boot/armbianEnv.txt"));
    CHECK(node.apply().edits.empty());

    node.write("boot/armbianEnv.txt", "verbosity=1\n");
    node.apply();
    CHECK(node.read("boot/armbianEnv.txt") == "verbosity=1\nextraargs=" + added.substr(1) + "\n");
}

TEST_CASE("GRUB: grub-mkconfig, reading the edited /etc/default/grub, puts graft's arguments on every Linux entry") {
    pi_node node("arch-x86");
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    // grub-mkconfig reads /etc/default/grub and /boot of the machine it runs on: in a private mount namespace, the
    // node's file and a /boot with a kernel stand in for this machine's. grub-probe still finds this machine's root.
    test::temp_dir work;
    fs::create_directories(work / "default");
    for (const auto& e : fs::directory_iterator("/etc/default")) fs::copy(e.path(), work / "default" / e.path().filename(),
                                                                          fs::copy_options::copy_symlinks | fs::copy_options::recursive);
    fs::copy_file(node.dir / "etc/default/grub", work / "default/grub", fs::copy_options::overwrite_existing);
    fs::create_directories(work / "boot/grub");
    test::write(work / "boot/vmlinuz-6.1.0-99-amd64", "");
    test::write(work / "boot/initrd.img-6.1.0-99-amd64", "");
    auto r = proto::run_process({"unshare", "-m", "sh", "-c",
                                 "mount --bind \"$0/default\" /etc/default && mount --bind \"$0/boot\" /boot && "
                                 "grub-mkconfig -o \"$0/grub.cfg\"",
                                 work.path().string()},
                                std::chrono::seconds(120));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto cfg = test::read(work / "grub.cfg");
    std::istringstream in(cfg);
    int entries = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.find("\tlinux\t") == std::string::npos) continue;
        ++entries;
        CHECK_THAT(line, Catch::Contains("cgroup_enable=memory cgroup_memory=1"));
    }
    CHECK(entries >= 2);  // the normal entry and the recovery one
}

TEST_CASE("fstab: findmnt --verify accepts the file graft wrote, with the swap line commented out") {
    pi_node node("rpi-os-bookworm");
    node.write("etc/fstab", node.read("etc/fstab") + "/var/swap none swap sw 0 0\n");
    auto plan = node.apply("swap");
    REQUIRE(plan.blocker.empty());
    const auto fstab = node.read("etc/fstab");
    CHECK_THAT(fstab, Catch::Contains("# graft: swap off for Kubernetes: /var/swap none swap sw 0 0"));
    auto r = proto::run_process({"findmnt", "--verify", "--tab-file", (node.dir / "etc/fstab")}, std::chrono::seconds(30));
    INFO(r.output);
    // findmnt also checks the sources and targets against this machine, which has no such partitions; parse errors
    // are what graft must not cause.
    CHECK_THAT(r.output, Catch::Contains("0 parse errors"));
    auto list = proto::run_process({"findmnt", "--tab-file", (node.dir / "etc/fstab"), "-n", "-o", "TARGET,FSTYPE"},
                                   std::chrono::seconds(30));
    CHECK(list.exit_code == 0);
    CHECK_THAT(list.output, Catch::Contains("/boot/firmware") && !Catch::Contains("swap"));
}
