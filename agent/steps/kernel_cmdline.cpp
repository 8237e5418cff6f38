// The kernel command line step: ask the boot loader for the cgroup controllers Kubernetes needs and the running kernel
// lacks, in the file the boot loader really reads.
// - The Pi firmware (Raspberry Pi OS, Ubuntu, Debian, Kali, Alpine, DietPi) reads cmdline.txt from the FAT partition,
//   or the file config.txt names: `os_prefix` puts it in a directory (Ubuntu 25.10's A/B boot: current/cmdline.txt,
//   and new/cmdline.txt under [tryboot]), `cmdline` renames it. The firmware puts cgroup_disable=memory in front and
//   the kernel honours the last word, so what graft adds goes last.
// - Debian's raspi-firmware package rewrites cmdline.txt from /etc/default/raspi-extra-cmdline on every kernel
//   update, so the arguments go there as well.
// - Armbian's boot script appends `extraargs` from /boot/armbianEnv.txt.
// - Jetson: the APPEND line of extlinux.conf's DEFAULT entry. x86: GRUB_CMDLINE_LINUX in /etc/default/grub.
#include "agent/steps/step.hpp"
#include "agent/steps/text.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <sstream>

namespace graft::agent {
namespace {

constexpr const char* firmware_dirs[] = {"/boot/firmware/", "/boot/", "/media/mmcblk0p1/"};
constexpr const char* raspi_extra = "/etc/default/raspi-extra-cmdline";
constexpr const char* raspi_firmware_hook = "/etc/kernel/postinst.d/z50-raspi-firmware";
constexpr const char* armbian_env = "/boot/armbianEnv.txt";
constexpr const char* extlinux = "/boot/extlinux/extlinux.conf";
constexpr const char* grub = "/etc/default/grub";
constexpr const char* disable_memory = "cgroup_disable=memory";

struct running_kernel {
    int cgroup_version = 0;  // 0: cannot tell
    bool memory = false;
    bool cpuset = false;
    std::vector<std::string> cmdline;
};

running_kernel read_running(const host& h) {
    running_kernel k;
    if (auto cmd = h.read("/proc/cmdline")) k.cmdline = text::words(*cmd);
    if (auto controllers = h.read("/sys/fs/cgroup/cgroup.controllers")) {
        k.cgroup_version = 2;
        for (const auto& c : text::words(*controllers)) {
            k.memory |= c == "memory";
            k.cpuset |= c == "cpuset";
        }
    } else if (auto cgroups = h.read("/proc/cgroups")) {
        // "#subsys_name hierarchy num_cgroups enabled"
        k.cgroup_version = 1;
        std::istringstream in(*cgroups);
        for (std::string line; std::getline(in, line);) {
            auto w = text::words(line);
            if (w.size() < 4 || w[0].starts_with('#')) continue;
            k.memory |= w[0] == "memory" && w[3] == "1";
            k.cpuset |= w[0] == "cpuset" && w[3] == "1";
        }
    }
    return k;
}

// The arguments the running kernel lacks, in the order they are added.
std::vector<std::string> wanted_arguments(const running_kernel& k) {
    std::vector<std::string> want;
    if (!k.memory) want.insert(want.end(), {"cgroup_enable=memory", "cgroup_memory=1"});
    if (!k.cpuset) want.push_back("cgroup_enable=cpuset");
    // cgroup v1 accounts swap only when asked to.
    if (k.cgroup_version == 1 && std::find(k.cmdline.begin(), k.cmdline.end(), "swapaccount=1") == k.cmdline.end())
        want.push_back("swapaccount=1");
    return want;
}

// Adds each wanted argument unless it already takes effect (stands after the last cgroup_disable=memory). A copy
// standing before that point is dead and is moved to the end, so nothing appears twice. Every other word stays.
std::vector<std::string> with_arguments(std::vector<std::string> words, const std::vector<std::string>& want) {
    for (const auto& arg : want) {
        auto last_disable = std::find(words.rbegin(), words.rend(), disable_memory);
        auto effective_from = last_disable == words.rend() ? words.begin() : last_disable.base();
        if (std::find(effective_from, words.end(), arg) != words.end()) continue;
        words.erase(std::remove(words.begin(), effective_from, arg), effective_from);
        words.push_back(arg);
    }
    return words;
}

std::string joined(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
    return out;
}

// The command-line files the Pi firmware reads for the boot partition at `dir`, as config.txt (and the files it
// includes) say: `os_prefix` and `cmdline` in the sections of a normal boot, and those of [tryboot], which Ubuntu's
// A/B boot uses to try new/ once. Model filters ([pi4], [pi5], ...) are taken as applying, so a file named for any
// model counts; [none] sections never apply; [all] ends every filter.
struct firmware_files {
    std::vector<std::string> normal;   // what a normal boot may read
    std::vector<std::string> tryboot;  // what a tryboot may read, when it differs
    std::string prefix;                // the normal boot's os_prefix, for the note ("" when config.txt sets none)
};

firmware_files firmware_cmdline_files(const host& h, const std::string& dir) {
    // Each setting's values in the order they stand; `everywhere` when one stands outside any model filter, so a
    // board no filter names has it too (else such a board keeps the firmware's default).
    struct setting {
        std::vector<std::string> normal, tryboot;
        bool everywhere = false;
    };
    setting prefix, name;
    bool in_tryboot = false, in_none = false, in_model = false;
    std::function<void(const std::string&, int)> read_config = [&](const std::string& file, int depth) {
        auto content = h.read(dir + file);
        if (!content || depth > 4) return;
        std::istringstream in(*content);
        for (std::string line; std::getline(in, line);) {
            line = text::trim(line);
            if (line.empty() || line.front() == '#') continue;
            if (line.front() == '[') {
                const auto filter = line.substr(1, line.find(']') - 1);
                if (filter == "all") in_tryboot = in_none = in_model = false;
                else if (filter == "tryboot") in_tryboot = true;
                else if (filter != "none") in_model = true;
                if (filter == "none") in_none = true;
                continue;
            }
            if (in_none) continue;
            if (line.starts_with("include ")) {
                read_config(text::trim(line.substr(8)), depth + 1);
                continue;
            }
            auto eq = line.find('=');
            if (eq == std::string::npos) continue;
            const auto key = text::trim(line.substr(0, eq));
            const auto value = text::trim(line.substr(eq + 1));
            setting* s = key == "os_prefix" ? &prefix : key == "cmdline" ? &name : nullptr;
            if (!s) continue;
            (in_tryboot ? s->tryboot : s->normal).push_back(value);
            if (!in_tryboot && !in_model) s->everywhere = true;
        }
    };
    read_config("config.txt", 0);

    firmware_files out;
    out.prefix = prefix.normal.empty() ? "" : prefix.normal.back();
    auto add = [&](std::vector<std::string>& to, const std::vector<std::string>& prefixes, const std::vector<std::string>& names) {
        for (const auto& p : prefixes.empty() ? std::vector<std::string>{""} : prefixes)
            for (const auto& n : names.empty() ? std::vector<std::string>{"cmdline.txt"} : names) {
                const std::string file = dir + p + n;
                if (std::find(out.normal.begin(), out.normal.end(), file) == out.normal.end() &&
                    std::find(to.begin(), to.end(), file) == to.end())
                    to.push_back(file);
            }
    };
    // A setting made only for some models leaves the firmware's default (no prefix, cmdline.txt) to the others.
    auto with_default = [](std::vector<std::string> values, bool everywhere, const std::string& fallback) {
        if (!values.empty() && !everywhere) values.push_back(fallback);
        return values;
    };
    add(out.normal, with_default(prefix.normal, prefix.everywhere, ""), with_default(name.normal, name.everywhere, "cmdline.txt"));
    // A tryboot reads the normal boot's settings too, with its own sections' on top.
    add(out.tryboot, prefix.tryboot.empty() ? prefix.normal : prefix.tryboot, name.tryboot.empty() ? name.normal : name.tryboot);
    return out;
}

class kernel_cmdline_step final : public step {
public:
    std::string_view name() const override { return "kernel-cmdline"; }

    step_plan probe(const host& h, const host_profile&) const override {
        step_plan plan(name());
        const auto kernel = read_running(h);
        if (kernel.cgroup_version == 0) {
            plan.notes.push_back("cannot see the running kernel's cgroups (no /sys/fs/cgroup/cgroup.controllers or "
                                 "/proc/cgroups); the kernel command line is left as it is");
            return plan;
        }
        const auto want = wanted_arguments(kernel);
        if (want.empty()) {
            plan.notes.push_back("the running kernel has the memory and cpuset cgroup controllers");
            return plan;
        }

        for (const char* dir : firmware_dirs)
            if (h.exists(std::string(dir) + "config.txt") || h.exists(std::string(dir) + "cmdline.txt"))
                return edit_firmware(h, plan, dir, want);
        if (auto content = h.read(armbian_env)) return edit_armbian(plan, *content, want);
        if (auto content = h.read(extlinux)) return edit_extlinux(plan, *content, want);
        if (auto content = h.read(grub))
            return edit_grub(plan, *content, want, h.exists("/usr/sbin/update-grub") || h.exists("/sbin/update-grub"));
        plan.blocker = "the kernel lacks " + joined(want) + " but no boot configuration was found (looked for "
                       "config.txt and cmdline.txt in /boot/firmware, /boot and /media/mmcblk0p1, " + armbian_env + ", " +
                       extlinux + " and " + grub + ")";
        return plan;
    }

private:
    // Records the edit of one boot file; the first one recorded is the file the reboot is for.
    static void finish(step_plan& plan, const std::string& file, const std::string& before, const std::string& after,
                       const std::vector<std::string>& want) {
        plan.needs_reboot = true;
        if (plan.reboot_file.empty()) plan.reboot_file = file;
        if (after == before) {
            plan.notes.push_back(file + " already asks for " + joined(want) + "; the running kernel will have it after a reboot");
            return;
        }
        plan.edits.push_back(file_edit::write(file, before, after, true));
        if (plan.edits.size() == 1) plan.notes.push_back("the running kernel lacks " + joined(want));
    }

    // cmdline.txt: the firmware reads one line. The new content, or nullopt with the plan blocked.
    static std::optional<std::string> cmdline_txt(step_plan& plan, const std::string& file, const std::string& content,
                                                  const std::vector<std::string>& want) {
        auto lines = text::lines::split(content);
        std::size_t nonblank = std::count_if(lines.items.begin(), lines.items.end(),
                                             [](const std::string& l) { return !text::trim(l).empty(); });
        if (nonblank > 1) {
            plan.blocker = file + " has " + std::to_string(nonblank) + " lines, but the firmware reads only the first; "
                           "join them into one line and run graft again (nothing was changed)";
            return std::nullopt;
        }
        auto first = std::find_if(lines.items.begin(), lines.items.end(), [](const std::string& l) { return !text::trim(l).empty(); });
        const std::vector<std::string> words = first == lines.items.end() ? std::vector<std::string>{} : text::words(*first);
        const auto updated = with_arguments(words, want);
        // An unchanged file keeps its exact bytes; a changed one is the single line, ending as it ended before.
        return updated == words ? content : joined(updated) + (lines.trailing_newline ? "\n" : "");
    }

    static step_plan edit_firmware(const host& h, step_plan& plan, const std::string& dir, const std::vector<std::string>& want) {
        const auto files = firmware_cmdline_files(h, dir);
        std::vector<std::pair<std::string, std::string>> edits;  // file, its content
        for (const auto& file : files.normal)
            if (auto content = h.read(file)) edits.emplace_back(file, *content);
        if (edits.empty()) {
            plan.blocker = dir + "config.txt" + (files.prefix.empty() ? "" : " sets os_prefix=" + files.prefix + ", but") +
                           " the firmware's command line file " + files.normal.front() + " does not exist; graft will not "
                           "guess where the kernel's arguments are (nothing was changed)";
            return plan;
        }
        if (!files.prefix.empty() && edits.front().first.starts_with(dir + files.prefix))
            plan.notes.push_back("chose " + edits.front().first + ": " + dir + "config.txt sets os_prefix=" + files.prefix +
                                 ", so the firmware reads its command line there");
        for (std::size_t i = 1; i < edits.size(); ++i)
            plan.notes.push_back("also " + edits[i].first + ": " + dir + "config.txt has the firmware of some board "
                                 "models read it");
        for (const auto& file : files.tryboot)
            if (auto content = h.read(file)) {
                edits.emplace_back(file, *content);
                plan.notes.push_back("also " + file + ": the firmware reads it when it tries new boot files ([tryboot] "
                                     "in config.txt), and they become the normal boot's once the try succeeds");
            }
        std::vector<std::pair<std::string, std::string>> results;
        for (const auto& [file, content] : edits) {
            auto after = cmdline_txt(plan, file, content, want);
            if (!after) return plan;
            results.emplace_back(file, *after);
        }
        for (std::size_t i = 0; i < edits.size(); ++i) finish(plan, edits[i].first, edits[i].second, results[i].second, want);
        // Debian's raspi-firmware writes cmdline.txt anew at every kernel update, from its own settings.
        if (h.exists(raspi_firmware_hook) || h.exists(raspi_extra)) {
            const auto before = h.read(raspi_extra);
            const auto words = text::words(before.value_or(""));
            const auto updated = with_arguments(words, want);
            if (updated != words) plan.edits.push_back(file_edit::write(raspi_extra, before, joined(updated) + "\n"));
            plan.notes.push_back(std::string("also ") + raspi_extra + ": Debian's raspi-firmware rewrites cmdline.txt from it "
                                 "at every kernel update");
        }
        return plan;
    }

    // Armbian's boot script adds `extraargs=` of armbianEnv.txt to the kernel's command line.
    static step_plan edit_armbian(step_plan& plan, const std::string& content, const std::vector<std::string>& want) {
        auto lines = text::lines::split(content);
        bool found = false;
        for (auto& line : lines.items) {
            if (!line.starts_with("extraargs=")) continue;
            found = true;
            const auto args = text::words(line.substr(10));
            const auto updated = with_arguments(args, want);
            if (updated != args) line = "extraargs=" + joined(updated);
        }
        if (!found) {
            lines.items.push_back("extraargs=" + joined(want));
            lines.trailing_newline = true;
        }
        plan.notes.push_back(std::string("chose ") + armbian_env + ": Armbian's boot script adds its extraargs to the "
                             "kernel's command line");
        finish(plan, armbian_env, content, lines.join(), want);
        return plan;
    }

    static step_plan edit_extlinux(step_plan& plan, const std::string& content, const std::vector<std::string>& want) {
        auto lines = text::lines::split(content);
        std::optional<std::string> default_label;
        std::vector<std::pair<std::string, std::size_t>> labels;  // name, line index
        for (std::size_t i = 0; i < lines.items.size(); ++i) {
            auto w = text::words(lines.items[i]);
            if (w.size() >= 2 && (w[0] == "DEFAULT" || w[0] == "default")) default_label = w[1];
            if (w.size() >= 2 && (w[0] == "LABEL" || w[0] == "label")) labels.emplace_back(w[1], i);
        }
        std::optional<std::size_t> entry;
        for (std::size_t k = 0; k < labels.size(); ++k)
            if (default_label && labels[k].first == *default_label) entry = k;
        if (!entry && !default_label && labels.size() == 1) entry = 0;
        if (!entry) {
            plan.blocker = std::string(extlinux) + (default_label ? " names DEFAULT " + *default_label + " but has no such LABEL"
                                                                  : " has several LABELs and no DEFAULT line") +
                           "; graft will not guess which entry boots (nothing was changed)";
            return plan;
        }
        const std::size_t from = labels[*entry].second + 1;
        const std::size_t to = *entry + 1 < labels.size() ? labels[*entry + 1].second : lines.items.size();
        for (std::size_t i = from; i < to; ++i) {
            auto w = text::words(lines.items[i]);
            if (w.empty() || (w[0] != "APPEND" && w[0] != "append")) continue;
            std::vector<std::string> args(w.begin() + 1, w.end());
            auto updated = with_arguments(args, want);
            if (updated != args) lines.items[i] = text::indent_of(lines.items[i]) + w[0] + " " + joined(updated);
            finish(plan, extlinux, content, lines.join(), want);
            return plan;
        }
        plan.blocker = std::string(extlinux) + ": the entry LABEL " + labels[*entry].first +
                       " has no APPEND line to add " + joined(want) + " to (nothing was changed)";
        return plan;
    }

    static step_plan edit_grub(step_plan& plan, const std::string& content, const std::vector<std::string>& want,
                               bool has_update_grub) {
        auto lines = text::lines::split(content);
        constexpr std::string_view key = "GRUB_CMDLINE_LINUX=";
        bool found = false;
        for (auto& line : lines.items) {
            if (!line.starts_with(key)) continue;
            found = true;
            std::string value = line.substr(key.size());
            char quote = !value.empty() && (value.front() == '"' || value.front() == '\'') ? value.front() : '"';
            if (!value.empty() && value.front() == quote) {
                auto close = value.find(quote, 1);
                if (close == std::string::npos) {
                    plan.blocker = std::string(grub) + ": GRUB_CMDLINE_LINUX has no closing quote (nothing was changed)";
                    return plan;
                }
                value = value.substr(1, close - 1);
            }
            auto args = text::words(value);
            auto updated = with_arguments(args, want);
            if (updated != args) line = std::string(key) + quote + joined(updated) + quote;
        }
        if (!found) {
            lines.trailing_newline = true;
            lines.items.push_back(std::string(key) + "\"" + joined(want) + "\"");
        }
        std::string after = lines.join();
        finish(plan, grub, content, after, want);
        if (after != content)
            plan.actions.push_back(has_update_grub ? live_action::run({"update-grub"}, "regenerate the GRUB configuration")
                                                     : live_action::run({"grub-mkconfig", "-o", "/boot/grub/grub.cfg"},
                                                                        "regenerate the GRUB configuration"));
        return plan;
    }
};

}  // namespace

const step& kernel_cmdline_step_instance() {
    static const kernel_cmdline_step s;
    return s;
}

}  // namespace graft::agent
