// The sysctl step: bridged traffic through iptables and IPv4 forwarding, as kubeadm's preflight demands, at every
// boot and now.
#include "agent/steps/step.hpp"
#include "agent/steps/text.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace graft::agent {
namespace {

constexpr const char* keys[] = {"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables", "net.ipv4.ip_forward"};
// systemd-sysctl applies files of all sysctl.d directories sorted by file name, a later one winning. Debian links
// /etc/sysctl.d/99-sysctl.conf to /etc/sysctl.conf, so a "99-…" name could still be overridden: "zz-" sorts last.
constexpr const char* graft_file = "/etc/sysctl.d/zz-graft-kubernetes.conf";

std::string normalized(std::string key) {
    std::replace(key.begin(), key.end(), '/', '.');
    return key;
}

class sysctl_step final : public step {
public:
    std::string_view name() const override { return "sysctl"; }

    step_plan probe(const host& h, const host_profile&) const override {
        step_plan plan(name());
        // File name -> directory; a file in /etc hides one of the same name in /run or /usr/lib.
        std::map<std::string, std::string> files;
        for (const char* dir : {"/usr/lib/sysctl.d", "/lib/sysctl.d", "/run/sysctl.d", "/etc/sysctl.d"})
            for (const auto& f : h.list(dir))
                if (f.ends_with(".conf")) files[f] = dir;
        std::map<std::string, std::string> effective;
        auto apply = [&](const std::string& path) {
            std::istringstream in(h.read(path).value_or(""));
            for (std::string line; std::getline(in, line);) {
                if (text::is_comment_or_blank(line) || text::trim(line).front() == ';') continue;
                auto eq = line.find('=');
                if (eq == std::string::npos) continue;
                std::string key = text::trim(line.substr(0, eq));
                if (!key.empty() && key.front() == '-') key.erase(0, 1);
                effective[normalized(key)] = text::trim(line.substr(eq + 1));
            }
        };
        for (const auto& [file, dir] : files) apply(dir + "/" + file);
        if (!files.contains("99-sysctl.conf")) apply("/etc/sysctl.conf");

        bool at_boot = true;
        for (const char* k : keys) at_boot &= effective[k] == "1";
        const bool now = verify(h).empty();
        if (!at_boot) {
            std::string content = "# Written by graft-agent: what Kubernetes networking needs.\n";
            for (const char* k : keys) content += std::string(k) + " = 1\n";
            plan.edits.push_back(file_edit::write(graft_file, h.read(graft_file), content));
        }
        if (!now)
            plan.actions.push_back(h.uses_systemd()
                                       ? live_action::restart_unit("systemd-sysctl.service", "apply now, then check /proc/sys")
                                       : live_action::run({"sysctl", "-p", graft_file}, "apply now, then check /proc/sys"));
        return plan;
    }

    // The running kernel's values, read back from /proc/sys.
    std::string verify(const host& h) const override {
        std::string wrong;
        for (const char* k : keys) {
            std::string proc = "/proc/sys/" + std::string(k);
            std::replace(proc.begin() + 10, proc.end(), '.', '/');
            const auto value = text::trim(h.read(proc).value_or("(missing)"));
            if (value != "1") wrong += (wrong.empty() ? "" : ", ") + proc + " is " + value;
        }
        return wrong.empty() ? wrong : wrong + " after applying; it should be 1";
    }
};

}  // namespace

const step& sysctl_step_instance() {
    static const sysctl_step s;
    return s;
}

}  // namespace graft::agent
