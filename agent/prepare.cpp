#include "agent/prepare.hpp"

#include "agent/configure.hpp"
#include "agent/state.hpp"
#include "agent/steps/step.hpp"
#include "agent/system/live_system.hpp"
#include "proto/cli.hpp"

#include <iostream>

namespace graft::agent {
namespace {

host_profile profile_for(const std::string& root, const std::string& profile_path) {
    if (!profile_path.empty()) return host_profile::load(profile_path);
    host_profile p;
    state_store store(root);
    if (store.has("state.json")) {
        auto state = store.load();
        p.node_name = state.node_name;
        p.coordinator = state.coordinator;
    }
    return p;
}

int run(const std::string& root, const std::string& profile_path, bool apply) {
    const host h(root);
    const host_profile profile = profile_for(root, profile_path);
    // Actions on the running system only when the root is the running system's.
    std::unique_ptr<live_system> live;
    if (apply && h.is_running_system()) live = connect_live_system();
    bool blocked = false, reboot = false;
    for (const step* s : all_steps()) {
        // Unlike the agent, prepare goes on after a failed step, so one run shows everything to fix.
        auto result = run_step(*s, h, profile, live.get(), apply);
        std::cout << render_plan(result.plan);  // a blocked plan says BLOCKED and why
        using failure = step_result::failure;
        if (result.failed == failure::not_written) std::cout << "   could not apply: " << result.reason << "\n";
        if (result.failed == failure::not_effective) std::cout << "   did not take effect: " << result.reason << "\n";
        if (result.failed != failure::none) {
            blocked = true;
            continue;
        }
        if (apply && !live && !result.plan.actions.empty())
            std::cout << "(root is " << root << ", not the running system: the actions above are listed, not performed)\n";
        reboot |= result.plan.needs_reboot;
    }
    if (apply && reboot)
        std::cout << "Reboot this node to finish: the kernel command line changed (prepare does not reboot by itself; "
                     "graft-agent run does, once).\n";
    return blocked ? 1 : 0;
}

}  // namespace

int print_plan(const std::string& root, const std::string& profile_path) { return run(root, profile_path, false); }

int prepare(const std::string& root, const std::string& profile_path) { return run(root, profile_path, true); }

}  // namespace graft::agent
