#include "agent/steps/step.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace graft;
using namespace graft::agent;
namespace fs = std::filesystem;

namespace {

// A writable copy of a fixture tree (symlinks copied as symlinks).
struct node_copy {
    test::temp_dir dir;
    explicit node_copy(const std::string& fixture) {
        test::copy_host_fixture(fixture, dir.path().string());
    }
    std::string root() const { return dir.path().string(); }
    std::string read(const std::string& node_path) const { return test::read(dir / node_path.substr(1)); }
};

host_profile profile(std::string name = "node-1") {
    host_profile p;
    p.node_name = std::move(name);
    return p;
}

std::map<std::string, step_plan> probe_all(const host& h, const host_profile& p) {
    std::map<std::string, step_plan> out;
    for (const step* s : all_steps()) out.emplace(std::string(s->name()), s->probe(h, p));
    return out;
}

std::map<std::string, step_plan> prepare(const node_copy& node, const host_profile& p = profile()) {
    host h(node.root());
    auto plans = probe_all(h, p);
    for (auto& [name, plan] : plans) {
        INFO(name << ": " << plan.blocker);
        REQUIRE(plan.blocker.empty());
        REQUIRE(apply_edits(h, plan).empty());
    }
    return plans;
}

bool contains(const std::vector<std::string>& v, const std::string& needle) {
    for (const auto& s : v)
        if (s.find(needle) != std::string::npos) return true;
    return false;
}

bool contains(const std::vector<live_action>& actions, const std::string& needle) {
    for (const auto& a : actions)
        if (a.description.find(needle) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("every fixture is made Kubernetes-ready, and a second run changes no file") {
    for (const char* fixture : {"rpi-os-bookworm", "ubuntu-2204-pi", "jetson-l4t", "alpine-pi", "kali-pi", "arch-x86"}) {
        INFO(fixture);
        node_copy node(fixture);
        prepare(node);
        for (const auto& [name, plan] : probe_all(host(node.root()), profile())) {
            INFO(name);
            CHECK(plan.blocker.empty());
            CHECK(plan.edits.empty());
        }
        CHECK(node.read("/etc/hostname") == "node-1\n");
        CHECK(node.read("/etc/hosts").find("127.0.1.1\tnode-1\n") != std::string::npos);
        CHECK(node.read("/etc/sysctl.d/zz-graft-kubernetes.conf").find("net.ipv4.ip_forward = 1") != std::string::npos);
        CHECK(node.read("/etc/modules-load.d/graft.conf").find("br_netfilter") != std::string::npos);
    }
}

TEST_CASE("Raspberry Pi OS: the memory controller goes after the firmware's cgroup_disable=memory, nothing else moves") {
    node_copy node("rpi-os-bookworm");
    const std::string original = node.read("/boot/firmware/cmdline.txt");
    auto plans = prepare(node);
    CHECK(plans.at("kernel-cmdline").needs_reboot);
    const std::string after = node.read("/boot/firmware/cmdline.txt");
    CHECK(after == original.substr(0, original.size() - 1) + " cgroup_enable=memory cgroup_memory=1\n");
    CHECK(node.read("/boot/firmware/cmdline.txt.graft-backup") == original);
    // The hosts file changed on its 127.0.1.1 line only.
    CHECK(node.read("/etc/hosts") == "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
                                     "ff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n127.0.1.1\tnode-1\n");
    // dphys-swapfile is masked, and its swap file is switched off now.
    CHECK(fs::read_symlink(node.dir / "etc/systemd/system/dphys-swapfile.service") == "/dev/null");
    CHECK(contains(plans.at("swap").actions, "swapoff /var/swap"));
    CHECK(contains(plans.at("swap").actions, "stop dphys-swapfile.service"));
    // After the reboot the kernel shows memory: nothing more to do, and no second reboot.
    test::write(node.dir / "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
    auto after_reboot = probe_all(host(node.root()), profile()).at("kernel-cmdline");
    CHECK_FALSE(after_reboot.needs_reboot);
    CHECK(after_reboot.edits.empty());
}

TEST_CASE("a command line already edited but not yet booted asks for the reboot without editing again") {
    node_copy node("kali-pi");
    prepare(node);
    auto plan = probe_all(host(node.root()), profile()).at("kernel-cmdline");
    CHECK(plan.edits.empty());
    CHECK(plan.needs_reboot);
    CHECK(contains(plan.notes, "already asks for"));
}

TEST_CASE("an argument standing before an in-file cgroup_disable=memory is moved after it, not duplicated") {
    node_copy node("kali-pi");
    test::write(node.dir / "boot/cmdline.txt", "cgroup_enable=memory console=tty1 cgroup_disable=memory root=/dev/mmcblk0p2\n");
    prepare(node);
    CHECK(node.read("/boot/cmdline.txt") ==
          "console=tty1 cgroup_disable=memory root=/dev/mmcblk0p2 cgroup_enable=memory cgroup_memory=1\n");
}

TEST_CASE("Ubuntu: the swap line in fstab is commented out and every other line stays byte for byte") {
    node_copy node("ubuntu-2204-pi");
    prepare(node);
    CHECK(node.read("/etc/fstab") == "LABEL=writable\t/\text4\tdiscard,errors=remount-ro\t0\t1\n"
                                     "LABEL=system-boot       /boot/firmware  vfat    defaults        0       1\n"
                                     "# graft: swap off for Kubernetes: /swapfile none swap sw 0 0\n");
    CHECK(node.read("/boot/firmware/cmdline.txt").ends_with("quiet splash cgroup_enable=memory cgroup_memory=1\n"));
}

TEST_CASE("Jetson: the DEFAULT entry's APPEND line gets swapaccount on cgroup v1 and nvzramconfig is disabled") {
    node_copy node("jetson-l4t");
    const std::string original = node.read("/boot/extlinux/extlinux.conf");
    auto plans = prepare(node);
    const std::string after = node.read("/boot/extlinux/extlinux.conf");
    CHECK(after.find("      APPEND ${cbootargs} quiet root=/dev/mmcblk0p1 rw rootwait rootfstype=ext4 console=ttyS0,115200n8 "
                     "console=tty0 fbcon=map:0 net.ifnames=0 sdhci_tegra.en_boot_part_access=1 swapaccount=1\n") !=
          std::string::npos);
    CHECK(after.find("#    APPEND ${cbootargs}\n") != std::string::npos);  // the commented backup entry is untouched
    CHECK(after.size() == original.size() + std::string(" swapaccount=1").size());
    // Its unit file lives in /etc, so it is disabled (wants-link removed) rather than masked over.
    CHECK(fs::exists(node.dir / "etc/systemd/system/nvzramconfig.service"));
    CHECK_FALSE(fs::exists(fs::symlink_status(node.dir / "etc/systemd/system/multi-user.target.wants/nvzramconfig.service")));
    for (int i = 0; i < 4; ++i) {
        CHECK(contains(plans.at("swap").actions, "swapoff /dev/zram" + std::to_string(i)));
        CHECK(contains(plans.at("swap").actions, "remove /dev/zram" + std::to_string(i)));
    }
}

TEST_CASE("Alpine: cmdline.txt keeps having no final newline, hosts gains the line, modules load with modprobe") {
    node_copy node("alpine-pi");
    auto plans = prepare(node);
    CHECK(node.read("/media/mmcblk0p1/cmdline.txt") ==
          "modules=loop,squashfs,sd-mod,usb-storage quiet console=tty1 cgroup_enable=memory cgroup_memory=1");
    CHECK(node.read("/etc/hosts") == "127.0.0.1\tlocalhost localhost.localdomain\n::1\t\tlocalhost localhost.localdomain\n"
                                     "127.0.1.1\tnode-1\n");
    // -a: without it modprobe would pass br_netfilter to overlay as a module parameter.
    REQUIRE(plans.at("kernel-modules").actions.size() == 1);
    CHECK(plans.at("kernel-modules").actions[0].args == std::vector<std::string>{"modprobe", "-a", "overlay", "br_netfilter"});
    CHECK(contains(plans.at("sysctl").actions, "sysctl -p"));
}

TEST_CASE("Arch: nothing for the command line on a complete kernel, and zram-generator is switched off") {
    node_copy node("arch-x86");
    auto plans = prepare(node);
    CHECK(plans.at("kernel-cmdline").edits.empty());
    CHECK_FALSE(plans.at("kernel-cmdline").needs_reboot);
    CHECK(node.read("/etc/systemd/zram-generator.conf").find("[zram0]") == std::string::npos);
    CHECK(contains(plans.at("swap").actions, "swapoff /dev/zram0"));
}

TEST_CASE("x86 with GRUB: GRUB_CMDLINE_LINUX gains what the kernel lacks and grub.cfg is regenerated") {
    node_copy node("arch-x86");
    test::write(node.dir / "sys/fs/cgroup/cgroup.controllers", "cpu io pids\n");
    auto plans = prepare(node);
    const std::string grub = node.read("/etc/default/grub");
    CHECK(grub.find("GRUB_CMDLINE_LINUX=\"cgroup_enable=memory cgroup_memory=1 cgroup_enable=cpuset\"\n") != std::string::npos);
    CHECK(grub.find("GRUB_CMDLINE_LINUX_DEFAULT=\"loglevel=3 quiet\"\n") != std::string::npos);
    // Arch has no update-grub script; grub-mkconfig is what it wraps.
    REQUIRE(plans.at("kernel-cmdline").actions.size() == 1);
    CHECK(plans.at("kernel-cmdline").actions[0].args == std::vector<std::string>{"grub-mkconfig", "-o", "/boot/grub/grub.cfg"});
}

TEST_CASE("a cmdline.txt of several lines blocks the step, and nothing is written") {
    node_copy node("rpi-os-bookworm");
    const std::string two_lines = "console=tty1 root=/dev/mmcblk0p2\nquiet splash\n";
    test::write(node.dir / "boot/firmware/cmdline.txt", two_lines);
    auto plan = probe_all(host(node.root()), profile()).at("kernel-cmdline");
    CHECK_THAT(plan.blocker, Catch::Contains("/boot/firmware/cmdline.txt has 2 lines") && Catch::Contains("nothing was changed"));
    CHECK(plan.edits.empty());
    CHECK(node.read("/boot/firmware/cmdline.txt") == two_lines);
    CHECK_FALSE(fs::exists(node.dir / "boot/firmware/cmdline.txt.graft-backup"));
}

TEST_CASE("an extlinux.conf with several LABELs and no DEFAULT blocks the step, and nothing is written") {
    node_copy node("jetson-l4t");
    const std::string ambiguous = "TIMEOUT 30\nLABEL primary\n  APPEND quiet\nLABEL backup\n  APPEND quiet\n";
    test::write(node.dir / "boot/extlinux/extlinux.conf", ambiguous);
    auto plan = probe_all(host(node.root()), profile()).at("kernel-cmdline");
    CHECK_THAT(plan.blocker, Catch::Contains("several LABELs and no DEFAULT"));
    CHECK(plan.edits.empty());
    CHECK(node.read("/boot/extlinux/extlinux.conf") == ambiguous);
}

TEST_CASE("without a node name the hostname is left alone") {
    node_copy node("kali-pi");
    auto plan = probe_all(host(node.root()), profile("")).at("hostname");
    CHECK(plan.edits.empty());
    CHECK(contains(plan.notes, "not enrolled"));
}

TEST_CASE("a plan renders as a diff with its actions") {
    node_copy node("ubuntu-2204-pi");
    auto text = render_plan(probe_all(host(node.root()), profile()).at("swap"));
    CHECK_THAT(text, Catch::Contains("--- /etc/fstab\n+++ /etc/fstab\n") &&
                         Catch::Contains("-/swapfile none swap sw 0 0\n+# graft: swap off for Kubernetes: /swapfile none swap sw 0 0\n") &&
                         Catch::Contains("action: swapoff /swapfile"));
}

TEST_CASE("a profile with an unknown swap policy or field is refused with the file and field named") {
    test::temp_dir dir;
    test::write(dir / "profile.json", R"({"node_name": "node-1", "swap": "sometimes"})");
    CHECK_THROWS_WITH(host_profile::load(dir / "profile.json"),
                      Catch::Contains(dir / "profile.json") && Catch::Contains("field 'swap'"));
    test::write(dir / "profile.json", R"({"nodename": "node-1"})");
    CHECK_THROWS_WITH(host_profile::load(dir / "profile.json"), Catch::Contains("'nodename': is not a known field"));
}

TEST_CASE("swap policy allow keeps swap and gives kubelet LimitedSwap through a kubeadm patch") {
    node_copy node("ubuntu-2204-pi");
    host_profile p = profile();
    p.swap = "allow";
    auto plans = prepare(node, p);
    CHECK(plans.at("swap").actions.empty());
    CHECK(node.read("/etc/fstab").find("\n/swapfile none swap sw 0 0\n") != std::string::npos);
    CHECK(node.read("/etc/kubernetes/graft-patches/kubeletconfiguration+strategic.yaml") ==
          "# Written by graft-agent: swap policy \"allow\".\napiVersion: kubelet.config.k8s.io/v1beta1\n"
          "kind: KubeletConfiguration\nfailSwapOn: false\nmemorySwap:\n  swapBehavior: LimitedSwap\n");
    CHECK(probe_all(host(node.root()), p).at("swap").edits.empty());
}

TEST_CASE("swap policy allow on cgroup v1 is refused with the reason, and nothing is written") {
    node_copy node("jetson-l4t");
    host_profile p = profile();
    p.swap = "allow";
    auto plan = probe_all(host(node.root()), p).at("swap");
    CHECK_THAT(plan.blocker, Catch::Contains("needs cgroup v2") && Catch::Contains("cgroup v1"));
    CHECK(plan.edits.empty());
}

TEST_CASE("dphys-swapfile is stopped, disabled and masked, and zram-generator's setup units are stopped") {
    node_copy pi("rpi-os-bookworm");
    auto plans = prepare(pi);
    CHECK_FALSE(fs::exists(fs::symlink_status(pi.dir / "etc/systemd/system/multi-user.target.wants/dphys-swapfile.service")));
    CHECK(fs::read_symlink(pi.dir / "etc/systemd/system/dphys-swapfile.service") == "/dev/null");
    CHECK(fs::exists(pi.dir / "lib/systemd/system/dphys-swapfile.service"));
    node_copy arch("arch-x86");
    auto arch_plans = prepare(arch);
    CHECK(contains(arch_plans.at("swap").actions, "stop systemd-zram-setup@zram0.service"));
}
