// The DNS step: kubelet hands pods the resolv.conf it is pointed at, and CoreDNS forwards to its nameservers. On
// Ubuntu that must be systemd-resolved's upstream file, not /etc/resolv.conf with its 127.0.0.53 stub (CoreDNS would
// forward to itself); on Kali systemd-resolved is installed but off. So: use resolved's file where resolved runs,
// start resolved where it is installed, else use /etc/resolv.conf if its nameservers are not loopback.
#include "agent/steps/kubelet_flags.hpp"
#include "agent/steps/step.hpp"
#include "agent/steps/text.hpp"

#include <sstream>

namespace graft::agent {
namespace {

constexpr const char* resolved_file = "/run/systemd/resolve/resolv.conf";

bool loopback_only(const std::string& resolv_conf, std::string& servers) {
    std::istringstream in(resolv_conf);
    bool any = false, all_loopback = true;
    for (std::string line; std::getline(in, line);) {
        auto w = text::words(line);
        if (w.size() < 2 || w[0] != "nameserver") continue;
        any = true;
        servers += (servers.empty() ? "" : ", ") + w[1];
        all_loopback &= w[1].starts_with("127.") || w[1] == "::1";
    }
    return !any || all_loopback;
}

class dns_step final : public step {
public:
    std::string_view name() const override { return "dns"; }

    step_plan probe(const host& h, const host_profile&) const override {
        step_plan plan(name());
        std::string resolv_conf;
        if (h.exists(resolved_file)) {
            resolv_conf = resolved_file;
        } else if (h.uses_systemd() &&
                   (h.exists("/lib/systemd/systemd-resolved") || h.exists("/usr/lib/systemd/systemd-resolved"))) {
            resolv_conf = resolved_file;
            plan.actions.push_back(live_action::enable_and_start_unit("systemd-resolved.service",
                                                                      "which writes " + std::string(resolved_file)));
        } else {
            auto etc = h.read("/etc/resolv.conf");
            std::string servers;
            if (!etc) {
                plan.blocker = "this node has no /etc/resolv.conf and no systemd-resolved: pods would have no DNS. "
                               "Configure a nameserver (or install systemd-resolved) and run graft again";
                return plan;
            }
            if (loopback_only(*etc, servers)) {
                plan.blocker = "/etc/resolv.conf names only loopback nameservers (" + (servers.empty() ? "none" : servers) +
                               "); CoreDNS would forward to itself. Give it an upstream nameserver, or install "
                               "systemd-resolved, and run graft again";
                return plan;
            }
            resolv_conf = "/etc/resolv.conf";
        }
        const std::string file = kubelet_flags_file(h);
        const auto before = h.read(file);
        if (kubelet_flag(before.value_or(""), "resolv-conf") != resolv_conf)
            plan.edits.push_back(file_edit::write(file, before, with_kubelet_flag(before.value_or(""), "resolv-conf", resolv_conf)));
        return plan;
    }
};

}  // namespace

const step& dns_step_instance() {
    static const dns_step s;
    return s;
}

}  // namespace graft::agent
