// The kernel modules step: overlay (containerd's snapshotter) and br_netfilter (bridged pod traffic through
// iptables) at every boot through modules-load.d, and now.
#include "agent/steps/step.hpp"
#include "agent/steps/text.hpp"

#include <set>
#include <sstream>

namespace graft::agent {
namespace {

constexpr const char* wanted[] = {"overlay", "br_netfilter"};
constexpr const char* graft_file = "/etc/modules-load.d/graft.conf";

class modules_step final : public step {
public:
    std::string_view name() const override { return "kernel-modules"; }

    step_plan probe(const host& h, const host_profile&) const override {
        step_plan plan(name());
        std::set<std::string> configured;
        auto collect = [&](const std::string& file) {
            std::istringstream in(h.read(file).value_or(""));
            for (std::string line; std::getline(in, line);)
                if (!text::is_comment_or_blank(line)) configured.insert(text::words(line).front());
        };
        for (const char* dir : {"/usr/lib/modules-load.d", "/lib/modules-load.d", "/etc/modules-load.d"})
            for (const auto& f : h.list(dir))
                if (f.ends_with(".conf")) collect(std::string(dir) + "/" + f);
        collect("/etc/modules");  // Debian and Alpine read it too

        std::string missing_at_boot, missing_now;
        for (const char* m : wanted) {
            if (!configured.contains(m)) missing_at_boot += std::string(missing_at_boot.empty() ? "" : ", ") + m;
            if (!h.exists(std::string("/sys/module/") + m)) missing_now += std::string(missing_now.empty() ? "" : " ") + m;
        }
        if (!missing_at_boot.empty()) {
            std::string content = "# Written by graft-agent: Kubernetes needs these modules at every boot.\n";
            for (const char* m : wanted) content += std::string(m) + "\n";
            plan.edits.push_back(file_edit::write(graft_file, h.read(graft_file), content));
            plan.notes.push_back("not loaded at boot: " + missing_at_boot);
        }
        if (!missing_now.empty())
        {
            if (h.uses_systemd()) {
                plan.actions.push_back(live_action::restart_unit("systemd-modules-load.service", "load " + missing_now + " now"));
            } else {
                std::vector<std::string> argv{"modprobe", "-a"};
                for (const char* m : wanted) argv.push_back(m);
                plan.actions.push_back(live_action::run(argv, "load " + missing_now + " now"));
            }
        }
        return plan;
    }
};

}  // namespace

const step& modules_step_instance() {
    static const modules_step s;
    return s;
}

}  // namespace graft::agent
