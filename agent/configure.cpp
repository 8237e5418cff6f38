#include "agent/configure.hpp"

#include "agent/steps/text.hpp"
#include "proto/log.hpp"
#include "proto/systemd.hpp"
#include "proto/message_ids.hpp"


namespace graft::agent {
namespace {

std::string boot_id(const host& h) { return text::trim(h.read("/proc/sys/kernel/random/boot_id").value_or("")); }

}  // namespace

step_result run_step(const step& s, const host& h, const host_profile& profile, live_system* live, bool apply) {
    proto::notify("STATUS=Preparing the host: " + std::string(s.name()));
    step_result r{s.probe(h, profile), step_result::failure::none, {}};
    const step_plan& plan = r.plan;
    const proto::log_field step_field{"GRAFT_STEP", plan.step}, node_field{"GRAFT_NODE", profile.node_name};
    auto fail = [&](step_result::failure kind, std::string reason, const std::string& what) {
        proto::log_error(plan.step + " " + what + ": " + reason, {step_field, node_field}, proto::message_id::step_blocked);
        r.failed = kind;
        r.reason = std::move(reason);
        return std::move(r);
    };
    if (!plan.blocker.empty()) return fail(step_result::failure::blocked, plan.blocker, "is blocked");
    if (!apply) return r;
    if (auto failure = apply_edits(h, plan); !failure.empty())
        return fail(step_result::failure::not_written, failure, "could not be applied");
    if (!plan.edits.empty()) {
        std::string files;
        for (const auto& e : plan.edits) files += (files.empty() ? "" : ", ") + e.path;
        proto::log_info(plan.step + " changed " + files + (plan.needs_reboot ? " (takes effect after a reboot)" : ""),
                        {step_field, node_field, {"GRAFT_FILES", files}}, proto::message_id::step_changed);
        // Why those files: which boot file the firmware reads, which swap providers were found, ...
        for (const auto& note : plan.notes) proto::log_info(plan.step + ": " + note, {step_field, node_field});
    }
    for (const auto& action : plan.actions) {
        if (live) perform(action, *live);
        proto::log_info((live ? "" : "not on the running system, so not performed: ") + action.description,
                        {step_field, node_field});
    }
    if (live && !plan.actions.empty())
        if (auto wrong = s.verify(h); !wrong.empty())
            return fail(step_result::failure::not_effective, wrong, "did not take effect");
    return r;
}

configure_result configure_host(const host& h, const host_profile& profile, agent_state& state, live_system* live) {
    // A reboot was asked for in another boot than this one: it has happened.
    const bool after_reboot = !state.reboot_boot_id.empty() && boot_id(h) != state.reboot_boot_id;
    bool reboot_needed = false;
    std::string reboot_file;
    std::vector<proto::step_outcome> outcomes;
    auto failed = [&](std::size_t index, std::string message) {
        for (std::size_t i = index + 1; i < all_steps().size(); ++i)
            outcomes.push_back({std::string(all_steps()[i]->name()), "not-run", {}});
        return configure_result{configure_outcome::failed, std::move(message), std::move(outcomes)};
    };
    for (std::size_t index = 0; index < all_steps().size(); ++index) {
        const step* s = all_steps()[index];
        auto result = run_step(*s, h, profile, live, true);
        if (result.failed != step_result::failure::none) {
            outcomes.push_back({result.plan.step, "failed", result.reason});
            return failed(index, result.plan.step + ": " + result.reason);
        }
        const step_plan& plan = result.plan;
        std::string detail;
        for (const auto& e : plan.edits) detail += (detail.empty() ? "" : ", ") + e.path;
        for (const auto& a : plan.actions) detail += (detail.empty() ? "" : "; ") + a.description;
        outcomes.push_back({plan.step, plan.needs_reboot ? "reboot" : plan.changes() ? "changed" : "unchanged",
                            detail.substr(0, 1000)});
        if (plan.needs_reboot) {
            reboot_needed = true;
            // The step names its boot file whether it edited it now or on an earlier run that failed later on.
            reboot_file = plan.reboot_file;
        }
        if (plan.needs_reboot && after_reboot) {
            // We rebooted for this very change and the kernel still lacks it: say so, never reboot again.
            std::string shows = text::trim(h.read("/sys/fs/cgroup/cgroup.controllers").value_or(""));
            if (shows.empty()) shows = "(no cgroup v2 controllers file)";
            outcomes.back().outcome = "failed";
            return failed(index, "the kernel command line change in " + reboot_file + " did not take effect after the reboot: "
                    "the running kernel's cgroup controllers are \"" + shows + "\" and /proc/cmdline is \"" +
                    text::trim(h.read("/proc/cmdline").value_or("")) + "\". Check that this is the file the boot loader "
                    "reads (the backup is beside it as .graft-backup)");
        }
    }
    if (reboot_needed) {
        state.reboot_boot_id = boot_id(h);
        state.reboot_boot_file = reboot_file;
        return {configure_outcome::reboot, "the kernel command line in " + reboot_file + " changed", std::move(outcomes)};
    }
    state.reboot_boot_id.clear();
    state.reboot_boot_file.clear();
    return {configure_outcome::configured, {}, std::move(outcomes)};
}

}  // namespace graft::agent
