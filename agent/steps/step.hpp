#pragma once
// Host preparation: each step probes the node and returns a plan — the file edits and live-system actions that would
// make it ready for Kubernetes — as data. `graft-agent plan` prints plans; `prepare` applies their file edits under
// the root prefix. A step whose node is already right returns an empty plan, so a second run changes nothing.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace graft::agent {

// The node being prepared: its files under a root prefix ("/" on a real node, a directory in tests), including the
// kernel's view in ROOT/proc and ROOT/sys, which on a real node is the running kernel's.
class host {
public:
    explicit host(std::string root);
    const std::string& root() const { return root_; }
    // Whether the root is the running system's own "/", where live actions may be performed.
    bool is_running_system() const;
    // ROOT + an absolute node path.
    std::string path(std::string_view node_path) const;
    bool exists(std::string_view node_path) const;
    // The file's content, or nullopt when it does not exist; an unreadable file is an error naming it.
    std::optional<std::string> read(std::string_view node_path) const;
    // Whether the node boots with systemd (else OpenRC, as on Alpine).
    bool uses_systemd() const { return exists("/lib/systemd/systemd") || exists("/usr/lib/systemd/systemd"); }
    // Names of the entries of a node directory, sorted; empty when it does not exist.
    std::vector<std::string> list(std::string_view node_dir) const;

private:
    std::string root_;
};

// What the coordinator's profile asks of this node's host.
struct host_profile {
    std::string node_name;       // empty: the hostname step has nothing to do
    std::string swap = "off";    // off | allow
    std::string coordinator;     // https://HOST:PORT; the node IP is the address whose route reaches it
    std::string node_cidr;       // overrides that: the node IP is the address in this IPv4 CIDR
    static host_profile load(const std::string& path);
};

struct file_edit {
    std::string path;                    // absolute on the node
    std::optional<std::string> before;   // nullopt: the file does not exist
    std::string after;
    std::optional<std::string> symlink_to;  // set: the edit makes `path` a symlink (a masked unit -> /dev/null)
    bool remove = false;                 // the edit removes `path` (a unit's wants-symlink, to disable it)
    bool backup = false;                 // keep the original as PATH.graft-backup (boot files)

    static file_edit write(std::string path, std::optional<std::string> before, std::string after, bool backup = false) {
        file_edit e;
        e.path = std::move(path);
        e.before = std::move(before);
        e.after = std::move(after);
        e.backup = backup;
        return e;
    }
    static file_edit link(std::string path, std::string target) {
        file_edit e;
        e.path = std::move(path);
        e.symlink_to = std::move(target);
        return e;
    }
    static file_edit removal(std::string path) {
        file_edit e;
        e.path = std::move(path);
        e.remove = true;
        return e;
    }
};

// An action on the running system, as data: what to do, with what, and how to say it to the operator. A root prefix
// that is not "/" gets them listed; the running system gets them performed through a live_system.
struct live_action {
    enum class kind { set_hostname, restart_unit, stop_unit, enable_and_start_unit, swapoff, remove_zram, run };
    kind what = kind::run;
    std::vector<std::string> args;
    std::string description;

    static live_action set_hostname(std::string name) {
        return {kind::set_hostname, {name}, "set the static hostname to " + name + " (org.freedesktop.hostname1 SetStaticHostname)"};
    }
    static live_action restart_unit(std::string unit, std::string why = {}) {
        return {kind::restart_unit, {unit}, (why.empty() ? "" : why + ": ") + "restart " + unit + " (org.freedesktop.systemd1 RestartUnit)"};
    }
    static live_action stop_unit(std::string unit) {
        return {kind::stop_unit, {unit}, "stop " + unit + " (org.freedesktop.systemd1 StopUnit)"};
    }
    static live_action enable_and_start_unit(std::string unit, std::string why = {}) {
        return {kind::enable_and_start_unit, {unit},
                "enable and start " + unit + " (org.freedesktop.systemd1 EnableUnitFiles, StartUnit)" + (why.empty() ? "" : ", " + why)};
    }
    static live_action swapoff(std::string path) { return {kind::swapoff, {path}, "swapoff " + path}; }
    static live_action remove_zram(std::string device) {
        std::string index = device.substr(4);
        return {kind::remove_zram, {index}, "remove /dev/" + device + " (echo " + index + " > /sys/class/zram-control/hot_remove)"};
    }
    static live_action run(std::vector<std::string> argv, std::string why) {
        std::string line;
        for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
        return {kind::run, std::move(argv), why + ": " + line};
    }
};

struct step_plan {
    explicit step_plan(std::string_view step_name) : step(step_name) {}
    std::string step;
    std::vector<file_edit> edits;
    std::vector<live_action> actions;    // on the running system: D-Bus calls, swapoff, module loads
    std::vector<std::string> notes;      // what the probe found, for the operator
    bool needs_reboot = false;           // a kernel command line change waits for a reboot
    std::string reboot_file;             // then: the boot file that asks for it (edited now or on an earlier run)
    std::string blocker;                 // non-empty: this node cannot be prepared until someone fixes it

    bool changes() const { return !edits.empty() || !actions.empty(); }
};

class step {
public:
    virtual ~step() = default;
    virtual std::string_view name() const = 0;
    // Reads only; throws when a file it must understand cannot be parsed (the message names the file).
    virtual step_plan probe(const host& h, const host_profile& profile) const = 0;
    // After its live actions were performed on the running system: "" when they took effect, else what did not.
    virtual std::string verify(const host&) const { return {}; }
};

// Per-node kubeadm patches (kubelet configuration) that the agent's JoinConfiguration points kubeadm join at.
inline constexpr const char* kubeadm_patches_dir = "/etc/kubernetes/graft-patches";

// Every step, in the order they run.
const std::vector<const step*>& all_steps();

// Writes a plan's file edits under the host's root: atomically, keeping each file's mode, with a backup where asked.
// Returns "" on success, else what failed and what to do (a read-only boot partition, say); each file already written
// is whole, and the one that failed is untouched.
std::string apply_edits(const host& h, const step_plan& plan);
// A plan as text: a unified-style diff per edited file, then the actions and notes.
std::string render_plan(const step_plan& plan);

}  // namespace graft::agent
