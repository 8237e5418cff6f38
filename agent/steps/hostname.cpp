// The hostname step: the coordinator-assigned name in /etc/hostname and on /etc/hosts' 127.0.1.1 line (where images
// ship "raspberrypi", "ubuntu", "kali" and the like), set live through systemd-hostnamed.
#include "agent/steps/step.hpp"
#include "agent/steps/text.hpp"

namespace graft::agent {
namespace {

class hostname_step final : public step {
public:
    std::string_view name() const override { return "hostname"; }

    step_plan probe(const host& h, const host_profile& profile) const override {
        step_plan plan(name());
        if (profile.node_name.empty()) {
            plan.notes.push_back("no node name yet (the node has not enrolled); the hostname is left as it is");
            return plan;
        }
        const std::string& want = profile.node_name;
        auto current = h.read("/etc/hostname");
        if (!current || text::trim(*current) != want) {
            plan.edits.push_back(file_edit::write("/etc/hostname", current, want + "\n"));
            // systemd-hostnamed where it exists; elsewhere (Alpine's OpenRC) /etc/hostname plus the hostname command.
            plan.actions.push_back(h.uses_systemd() ? live_action::set_hostname(want)
                                                    : live_action::run({"hostname", want}, "set the running hostname"));
        }

        // Only the 127.0.1.1 line changes; every other line stays byte for byte.
        auto hosts = h.read("/etc/hosts");
        auto lines = text::lines::split(hosts.value_or("127.0.0.1\tlocalhost\n"));
        const std::string wanted_line = "127.0.1.1\t" + want;
        bool found = false;
        for (auto& line : lines.items) {
            auto w = text::words(line);
            if (w.empty() || w[0] != "127.0.1.1") continue;
            found = true;
            if (w.size() != 2 || w[1] != want) line = wanted_line;
            break;
        }
        if (!found) {
            lines.trailing_newline = true;
            lines.items.push_back(wanted_line);
        }
        std::string after = lines.join();
        if (!hosts || after != *hosts) plan.edits.push_back(file_edit::write("/etc/hosts", hosts, after));
        return plan;
    }
};

}  // namespace

const step& hostname_step_instance() {
    static const hostname_step s;
    return s;
}

}  // namespace graft::agent
