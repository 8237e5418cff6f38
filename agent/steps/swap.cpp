// The swap step. kubelet refuses to start with swap on unless told how to use it, and the images graft supports
// turn swap on in many ways: swap lines in /etc/fstab; services (Raspberry Pi OS's dphys-swapfile, zram-tools'
// zramswap, Ubuntu's zram-config, swapspace, Jetson's nvzramconfig, Armbian's armbian-zram-config); generators
// (systemd's zram-generator, Raspberry Pi OS trixie's rpi-swap, whose /run configuration outranks /etc); DietPi's
// first-boot swap file setting; and units of the user's own that run swapon. Policy "off" finds every one of them on
// the node and turns it off now and for later boots. Each swap active now (/proc/swaps) must be explained by a
// provider found; one that is not blocks the step, naming it, rather than coming back after the reboot.
#include "agent/steps/step.hpp"
#include "agent/steps/text.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <sstream>

namespace graft::agent {
namespace {

constexpr const char* unit_dirs[] = {"/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"};
constexpr const char* generator_dirs[] = {"/usr/lib/systemd/system-generators", "/lib/systemd/system-generators"};

// Swap services masked by name; `zram` when the swap they make is a zram device.
struct swap_service {
    const char* unit;
    bool zram;
};
constexpr swap_service swap_services[] = {
    {"dphys-swapfile.service", false},     {"zramswap.service", true},  {"zram-config.service", true},
    {"swapspace.service", false},          {"nvzramconfig.service", true}, {"armbian-zram-config.service", true},
};

// What the probe learns about where swap comes from.
struct providers {
    std::vector<std::string> names;   // for the note
    bool zram = false;                // something found makes zram swap
    std::set<std::string> files;      // swap files and devices something found activates
    std::vector<std::string> file_prefixes;  // directories whose files are swap (swapspace's)
    bool fstab_devices = false;       // fstab names swap by UUID=, LABEL= or the like
    bool explains(const std::string& swap) const {
        if (swap.starts_with("/dev/zram")) return zram;
        if (files.contains(swap)) return true;
        for (const auto& p : file_prefixes)
            if (swap.starts_with(p)) return true;
        return fstab_devices && swap.starts_with("/dev/");
    }
};

// DIR/NAME for the first of `dirs` that has NAME, or "".
template <std::size_t N>
std::string first_in(const host& h, const char* const (&dirs)[N], const std::string& name) {
    for (const char* dir : dirs)
        if (h.exists(std::string(dir) + "/" + name)) return std::string(dir) + "/" + name;
    return {};
}
std::string unit_file(const host& h, const std::string& unit) { return first_in(h, unit_dirs, unit); }
std::string generator(const host& h, const std::string& name) { return first_in(h, generator_dirs, name); }

// Whether `path` is masked: a symlink to /dev/null.
bool masked(const host& h, const std::string& path) {
    return std::filesystem::is_symlink(h.path(path)) && std::filesystem::read_symlink(h.path(path)) == "/dev/null";
}

// KEY=value from a shell-style settings file (dphys-swapfile, dietpi.txt), or "".
std::string setting(const std::string& content, const std::string& key) {
    std::istringstream in(content);
    std::string value;
    for (std::string line; std::getline(in, line);) {
        line = text::trim(line);
        if (!line.starts_with(key + "=")) continue;
        value = line.substr(key.size() + 1);
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
            value = value.substr(1, value.size() - 2);
    }
    return value;
}

// A path as /proc/swaps and fstab write it, with octal escapes for white space (\040) undone.
std::string unescaped(const std::string& field) {
    std::string out;
    for (std::size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size() && std::isdigit(static_cast<unsigned char>(field[i + 1])) &&
            std::isdigit(static_cast<unsigned char>(field[i + 2])) && std::isdigit(static_cast<unsigned char>(field[i + 3]))) {
            out += static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8));
            i += 3;
            continue;
        }
        out += field[i];
    }
    return out;
}

class swap_step final : public step {
public:
    std::string_view name() const override { return "swap"; }

    step_plan probe(const host& h, const host_profile& profile) const override {
        step_plan plan(name());
        if (profile.swap == "allow") return allow_swap(h, plan);
        providers found;

        // Active swap now, from /proc/swaps ("Filename Type Size Used Priority"); octal escapes as the kernel writes.
        std::vector<std::string> active;
        std::istringstream swaps(h.read("/proc/swaps").value_or(""));
        std::string line;
        std::getline(swaps, line);
        while (std::getline(swaps, line))
            if (auto w = text::words(line); !w.empty()) {
                active.push_back(unescaped(w[0]));
                plan.actions.push_back(live_action::swapoff(active.back()));
            }

        fstab(h, plan, found);
        for (const auto& service : swap_services)
            if (!unit_file(h, service.unit).empty()) {
                disable_unit(h, plan, service.unit);
                found.names.push_back(service.unit);
                found.zram |= service.zram;
            }
        if (!unit_file(h, "dphys-swapfile.service").empty()) {
            auto file = setting(h.read("/etc/dphys-swapfile").value_or(""), "CONF_SWAPFILE");
            found.files.insert(file.empty() ? "/var/swap" : file);
        }
        if (!unit_file(h, "swapspace.service").empty()) {
            auto dir = setting(h.read("/etc/swapspace.conf").value_or(""), "swappath");
            found.file_prefixes.push_back((dir.empty() ? "/var/lib/swapspace" : dir) + "/");
        }
        zram_generator(h, plan, found);
        rpi_swap(h, plan, found);
        dietpi(h, plan, found);
        swapon_units(h, plan, found);
        if (!found.names.empty()) {
            std::string list;
            for (const auto& n : found.names) list += (list.empty() ? "" : ", ") + n;
            plan.notes.push_back("swap providers found and turned off for good: " + list);
        }

        for (const auto& swap : active)
            if (!found.explains(swap)) {
                plan.blocker = "swap on " + swap + " is active (/proc/swaps) but comes from nothing graft knows how to turn "
                               "off for good (looked at /etc/fstab, swap services, zram-generator, rpi-swap, DietPi and units "
                               "running swapon); find what turns it on (`systemctl list-units --type swap`, `systemctl "
                               "status " + swap + "`), disable it, and run graft again (nothing was changed)";
                plan.edits.clear();
                plan.actions.clear();
                return plan;
            }

        // zram devices go after their swap is off; zram-generator's setup unit for each is stopped first.
        const bool generator_zram = std::find(found.names.begin(), found.names.end(), "zram-generator") != found.names.end();
        for (const auto& dev : h.list("/sys/block"))
            if (dev.starts_with("zram")) {
                if (generator_zram) plan.actions.push_back(live_action::stop_unit("systemd-zram-setup@" + dev + ".service"));
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

    // fstab: swap entries are commented out; every other line stays byte for byte.
    static void fstab(const host& h, step_plan& plan, providers& found) {
        auto fstab = h.read("/etc/fstab");
        if (!fstab) return;
        constexpr std::string_view off = "# graft: swap off for Kubernetes: ";
        // What an fstab swap entry explains: its file, or (UUID=, LABEL=, /dev/disk/by-*) a device the kernel names
        // otherwise in /proc/swaps.
        auto explained = [&](const std::string& spec) {
            found.files.insert(unescaped(spec));
            found.fstab_devices |= spec.find('=') != std::string::npos || spec.starts_with("/dev/");
        };
        auto lines = text::lines::split(*fstab);
        for (auto& l : lines.items) {
            // A line graft turned off earlier still explains its swap until the next boot.
            if (l.starts_with(off)) {
                if (auto w = text::words(l.substr(off.size())); !w.empty()) explained(w[0]);
                continue;
            }
            auto w = text::words(l);
            if (text::is_comment_or_blank(l) || w.size() < 3 || w[2] != "swap") continue;
            explained(w[0]);
            l = std::string(off) + l;
        }
        if (auto after = lines.join(); after != *fstab) {
            plan.edits.push_back(file_edit::write("/etc/fstab", fstab, after));
            found.names.push_back("/etc/fstab");
        }
    }

    // systemd's zram-generator makes a zram swap for each device its configuration names. Its configuration may come
    // from /run (which outranks /etc) and from drop-ins, so the generator itself is masked, as systemd.generator(7)
    // has it: a link to /dev/null in /etc/systemd/system-generators. The empty file in /etc says so to a reader.
    static void zram_generator(const host& h, step_plan& plan, providers& found) {
        constexpr const char* zram_conf = "/etc/systemd/zram-generator.conf";
        const std::string binary = generator(h, "zram-generator");
        const auto packaged = h.read("/usr/lib/systemd/zram-generator.conf");
        const auto local = h.read(zram_conf);
        if (binary.empty() && !packaged && !local) return;
        found.names.push_back("zram-generator");
        found.zram = true;
        const std::string disabled = "# Written by graft-agent: no zram swap on a Kubernetes node.\n";
        if (local != disabled) plan.edits.push_back(file_edit::write(zram_conf, local, disabled));
        if (!binary.empty()) mask_generator(h, plan, "zram-generator");
    }

    // Raspberry Pi OS trixie's rpi-swap: its generator sets up zram and /var/swap from /etc/rpi/swap.conf; its
    // documented way to have no swap is Mechanism=none, in a drop-in.
    static void rpi_swap(const host& h, step_plan& plan, providers& found) {
        if (generator(h, "rpi-swap-generator").empty() && !h.exists("/etc/rpi/swap.conf")) return;
        found.names.push_back("rpi-swap");
        found.zram = true;
        found.files.insert("/var/swap");
        constexpr const char* drop_in = "/etc/rpi/swap.conf.d/90-graft.conf";
        const std::string none = "# Written by graft-agent: no swap on a Kubernetes node.\n[Main]\nMechanism=none\n";
        if (auto before = h.read(drop_in); before != none) plan.edits.push_back(file_edit::write(drop_in, before, none));
    }

    // DietPi makes a swap file on its first boot from AUTO_SETUP_SWAPFILE_SIZE in dietpi.txt (0 means none).
    static void dietpi(const host& h, step_plan& plan, providers& found) {
        for (const char* file : {"/boot/dietpi.txt", "/boot/firmware/dietpi.txt"}) {
            auto content = h.read(file);
            if (!content) continue;
            auto location = setting(*content, "AUTO_SETUP_SWAPFILE_LOCATION");
            found.files.insert(location.empty() ? "/var/swap" : location);
            auto lines = text::lines::split(*content);
            for (auto& l : lines.items)
                if (l.starts_with("AUTO_SETUP_SWAPFILE_SIZE=") && l != "AUTO_SETUP_SWAPFILE_SIZE=0") l = "AUTO_SETUP_SWAPFILE_SIZE=0";
            if (auto after = lines.join(); after != *content) {
                plan.edits.push_back(file_edit::write(file, content, after, true));
                found.names.push_back(std::string(file) + " (AUTO_SETUP_SWAPFILE_SIZE)");
            }
        }
    }

    // Units of anyone else's that run swapon, or .swap units: disabled (and masked when their file is not in /etc).
    static void swapon_units(const host& h, step_plan& plan, providers& found) {
        std::set<std::string> seen;
        for (const char* dir : unit_dirs)
            for (const auto& unit : h.list(dir)) {
                const bool swap_unit = unit.ends_with(".swap");
                if (!swap_unit && !unit.ends_with(".service")) continue;
                if (seen.contains(unit)) continue;
                if (std::any_of(std::begin(swap_services), std::end(swap_services),
                                [&](const swap_service& s) { return unit == s.unit; }))
                    continue;
                if (std::filesystem::is_symlink(h.path(std::string(dir) + "/" + unit))) continue;  // masked, or an alias
                auto content = h.read(std::string(dir) + "/" + unit).value_or("");
                std::vector<std::string> swapped;
                std::istringstream in(content);
                for (std::string l; std::getline(in, l);) {
                    l = text::trim(l);
                    if (swap_unit && l.starts_with("What=")) swapped.push_back(text::trim(l.substr(5)));
                    if (!l.starts_with("Exec") || l.find("swapon") == std::string::npos) continue;
                    auto words = text::words(l);
                    for (std::size_t i = 1; i < words.size(); ++i)
                        if (words[i].starts_with("/") && words[i - 1].find("swapon") != std::string::npos) swapped.push_back(words[i]);
                    if (swapped.empty()) swapped.push_back("");
                }
                if (swapped.empty()) continue;
                seen.insert(unit);
                for (const auto& f : swapped)
                    if (!f.empty()) found.files.insert(f);
                found.names.push_back(unit);
                disable_unit(h, plan, unit);
            }
    }

    static void mask_generator(const host& h, step_plan& plan, const std::string& name) {
        const std::string link = "/etc/systemd/system-generators/" + name;
        if (!masked(h, link)) plan.edits.push_back(file_edit::link(link, "/dev/null"));
    }

    // Stop, disable (its wants-links go) and mask (a symlink to /dev/null in /etc) a swap unit. A unit whose own file
    // lives in /etc (Jetson's nvzramconfig) cannot be masked without deleting it, so it is stopped and disabled only.
    static void disable_unit(const host& h, step_plan& plan, const std::string& unit) {
        const std::string found = unit_file(h, unit);
        if (found.empty()) return;
        const std::string etc_path = "/etc/systemd/system/" + unit;
        const bool was_masked = masked(h, etc_path);
        bool changed = false;
        for (const auto& d : h.list("/etc/systemd/system"))
            if (d.ends_with(".wants") && h.exists("/etc/systemd/system/" + d + "/" + unit)) {
                plan.edits.push_back(file_edit::removal("/etc/systemd/system/" + d + "/" + unit));
                changed = true;
            }
        if (found != etc_path) {
            plan.edits.push_back(file_edit::link(etc_path, "/dev/null"));
            changed = true;
        }
        if (changed && !was_masked) plan.actions.push_back(live_action::stop_unit(unit));
    }
};

}  // namespace

const step& swap_step_instance() {
    static const swap_step s;
    return s;
}

}  // namespace graft::agent
