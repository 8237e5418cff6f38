#pragma once
// Host preparation inside the agent's life: every step, applied, with its live actions performed, and the one
// reboot a kernel command line change needs. Whether a reboot happened is told by the kernel's boot_id, so a
// restarted agent neither reboots twice for one change nor mistakes a restart for a reboot.

#include "agent/state.hpp"
#include "agent/steps/step.hpp"
#include "agent/system/live_system.hpp"

#include "proto/messages.hpp"

#include <string>
#include <vector>

namespace graft::agent {

// One step, end to end: probe; then, when `apply`, write its edits, perform its live actions (with `live`; without,
// they are logged as not performed) and verify they took effect. Every outcome goes to the journal, and STATUS names
// the step. Shared by the agent's configure phase and `graft-agent prepare`, which differ only in what they do next.
struct step_result {
    enum class failure { none, blocked, not_written, not_effective };
    step_plan plan;
    failure failed = failure::none;
    std::string reason;  // why it failed, without the step's name
};
step_result run_step(const step& s, const host& h, const host_profile& profile, live_system* live, bool apply);

enum class configure_outcome { configured, reboot, failed };

struct configure_result {
    configure_outcome outcome = configure_outcome::configured;
    std::string message;  // for failed: what is wrong and what to do; for reboot: which file changed
    // Every step's outcome in order, the ones after a failure as not-run: what the coordinator shows per step.
    std::vector<proto::step_outcome> steps = {};
};

// Runs every step against `h`. With `live`, actions are performed on the running system; without, they are only
// logged (a sandbox root). Updates `state`'s reboot fields; the caller persists the state, reports, and reboots.
configure_result configure_host(const host& h, const host_profile& profile, agent_state& state, live_system* live);

}  // namespace graft::agent
