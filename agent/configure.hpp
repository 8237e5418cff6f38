#pragma once
// Host preparation inside the agent's life: every step, applied, with its live actions performed, and the one
// reboot a kernel command line change needs. Whether a reboot happened is told by the kernel's boot_id, so a
// restarted agent neither reboots twice for one change nor mistakes a restart for a reboot.

#include "agent/state.hpp"
#include "agent/steps/step.hpp"
#include "agent/system/live_system.hpp"

#include <string>

namespace graft::agent {

enum class configure_outcome { configured, reboot, failed };

struct configure_result {
    configure_outcome outcome = configure_outcome::configured;
    std::string message;  // for failed: what is wrong and what to do; for reboot: which file changed
};

// Runs every step against `h`. With `live`, actions are performed on the running system; without, they are only
// logged (a sandbox root). Updates `state`'s reboot fields; the caller persists the state, reports, and reboots.
configure_result configure_host(const host& h, const host_profile& profile, agent_state& state, live_system* live);

}  // namespace graft::agent
