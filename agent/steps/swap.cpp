// The swap step. kubelet refuses to start with swap on unless told how to use it, and boards ship it on in three
// ways: a swap line in /etc/fstab, Raspberry Pi OS's dphys-swapfile service, and zram (Jetson's nvzramconfig
// service, zram-generator elsewhere). Policy "off" turns every one of them off, now and for later boots.
#include "agent/steps/step.hpp"
#include "agent/steps/text.hpp"

#include <filesystem>
#include <sstream>

namespace graft::agent {
namespace {

constexpr const char* unit_dirs[] = {"/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"};
constexpr const char* swap_services[] = {"dphys-swapfile.service", "nvzramconfig.service"};

class swap_step final : public step {
public:
    std::string_view name() const override { return "swap"; }

    step_plan probe(const host& h, const host_profile& profile) const override {
        step_plan plan(name());
        if (profile.swap == "allow") return allow_swap(h, plan);

        // Active swap now, from /proc/swaps ("Filename Type Size Used Priority").
        std::istringstream swaps(h.read("/proc/swaps").value_or(""));
        std::string line;
        std::getline(swaps, line);
        while (std::getline(swaps, line))
            if (auto w = text::words(line); !w.empty()) plan.actions.push_back(live_action::swapoff(w[0]));

        // fstab: comment out swap entries; every other line stays byte for byte.
        if (auto fstab = h.read("/etc/fstab")) {
            auto lines = text::lines::split(*fstab);
            for (auto& l : lines.items) {
                auto w = text::words(l);
                if (!text::is_comment_or_blank(l) && w.size() >= 3 && w[2] == "swap") l = "# graft: swap off for Kubernetes: " + l;
            }
            if (auto after = lines.join(); after != *fstab) plan.edits.push_back(file_edit::write("/etc/fstab", fstab, after));
        }

        for (const char* unit : swap_services) disable_unit(h, plan, unit);

        // zram-generator: an empty configuration in /etc overrides the packaged one and makes no devices.
        constexpr const char* zram_conf = "/etc/systemd/zram-generator.conf";
        const auto packaged = h.read("/usr/lib/systemd/zram-generator.conf");
        const auto local = h.read(zram_conf);
        const std::string disabled = "# Written by graft-agent: no zram swap on a Kubernetes node.\n";
        if ((packaged || local) && local != disabled) plan.edits.push_back(file_edit::write(zram_conf, local, disabled));

        // zram devices go after their swap is off; zram-generator's setup unit for each is stopped first.
        for (const auto& dev : h.list("/sys/block"))
            if (dev.starts_with("zram")) {
                if (packaged || local) plan.actions.push_back(live_action::stop_unit("systemd-zram-setup@" + dev + ".service"));
                plan.actions.push_back(live_action::remove_zram(dev));
            }
        return plan;
    }

private:
    // Policy "allow": swap stays, and kubelet is told to run with it, limited (LimitedSwap), through a kubeadm patch
    // that `kubeadm join` applies to this node's kubelet configuration. LimitedSwap exists on cgroup v2 only.
    static step_plan allow_swap(const host& h, step_plan& plan) {
        if (!h.exists("/sys/fs/cgroup/cgroup.controllers")) {
            plan.blocker = "swap policy \"allow\" needs cgroup v2 (kubelet's LimitedSwap); this node runs cgroup v1, so "
                           "use swap policy \"off\"";
            return plan;
        }
        const std::string file = std::string(kubeadm_patches_dir) + "/kubeletconfiguration+strategic.yaml";
        const std::string patch = "# Written by graft-agent: swap policy \"allow\".\n"
                                  "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                  "kind: KubeletConfiguration\n"
                                  "failSwapOn: false\n"
                                  "memorySwap:\n"
                                  "  swapBehavior: LimitedSwap\n";
        auto before = h.read(file);
        if (before != patch) plan.edits.push_back(file_edit::write(file, before, patch));
        plan.notes.push_back("swap stays on; kubelet runs with LimitedSwap");
        return plan;
    }

    // Stop, disable (its wants-links go) and mask (a symlink to /dev/null in /etc) a swap unit. A unit whose own file
    // lives in /etc (Jetson's nvzramconfig) cannot be masked without deleting it, so it is stopped and disabled only.
    static void disable_unit(const host& h, step_plan& plan, const std::string& unit) {
        std::string found;
        for (const char* dir : unit_dirs)
            if (found.empty() && h.exists(std::string(dir) + "/" + unit)) found = dir;
        if (found.empty()) return;
        const std::string etc_path = "/etc/systemd/system/" + unit;
        const bool masked = std::filesystem::is_symlink(h.path(etc_path)) &&
                            std::filesystem::read_symlink(h.path(etc_path)) == "/dev/null";
        bool changed = false;
        for (const auto& d : h.list("/etc/systemd/system"))
            if (d.ends_with(".wants") && h.exists("/etc/systemd/system/" + d + "/" + unit)) {
                plan.edits.push_back(file_edit::removal("/etc/systemd/system/" + d + "/" + unit));
                changed = true;
            }
        if (found != "/etc/systemd/system") {
            plan.edits.push_back(file_edit::link(etc_path, "/dev/null"));
            changed = true;
        }
        if (changed && !masked) plan.actions.push_back(live_action::stop_unit(unit));
    }
};

}  // namespace

const step& swap_step_instance() {
    static const swap_step s;
    return s;
}

}  // namespace graft::agent
