#include "agent/prepare.hpp"

#include "agent/state.hpp"
#include "agent/steps/step.hpp"
#include "agent/system/live_system.hpp"
#include "proto/cli.hpp"
#include "proto/log.hpp"
#include "proto/message_ids.hpp"

#include <filesystem>
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

bool is_running_system(const std::string& root) { return std::filesystem::weakly_canonical(root) == "/"; }

int run(const std::string& root, const std::string& profile_path, bool apply) {
    const host h(root);
    const host_profile profile = profile_for(root, profile_path);
    // Actions on the running system only when the root is the running system's.
    std::unique_ptr<live_system> live;
    if (apply && is_running_system(root)) live = connect_live_system();
    bool blocked = false, reboot = false;
    for (const step* s : all_steps()) {
        // A file a step cannot understand stops that step with nothing written; the error names the file.
        step_plan plan = s->probe(h, profile);
        std::cout << render_plan(plan);
        if (!plan.blocker.empty()) {
            blocked = true;
            proto::log_error(plan.step + " is blocked: " + plan.blocker,
                             {{"GRAFT_STEP", plan.step}, {"GRAFT_NODE", profile.node_name}}, proto::message_id::step_blocked);
            continue;
        }
        if (!apply) continue;
        if (auto failure = apply_edits(h, plan); !failure.empty()) {
            blocked = true;
            std::cout << "   could not apply: " << failure << "\n";
            proto::log_error(plan.step + " could not be applied: " + failure,
                             {{"GRAFT_STEP", plan.step}, {"GRAFT_NODE", profile.node_name}}, proto::message_id::step_blocked);
            continue;
        }
        if (!plan.edits.empty()) {
            std::string files;
            for (const auto& e : plan.edits) files += (files.empty() ? "" : ", ") + e.path;
            proto::log_info(plan.step + " changed " + files + (plan.needs_reboot ? " (takes effect after a reboot)" : ""),
                            {{"GRAFT_STEP", plan.step}, {"GRAFT_NODE", profile.node_name}, {"GRAFT_FILES", files}},
                            proto::message_id::step_changed);
        }
        if (live) {
            for (const auto& action : plan.actions) perform(action, *live);
            if (auto wrong = s->verify(h); !plan.actions.empty() && !wrong.empty()) {
                blocked = true;
                std::cout << "   did not take effect: " << wrong << "\n";
            }
        } else if (!plan.actions.empty()) {
            std::cout << "(root is " << root << ", not the running system: the actions above are listed, not performed)\n";
        }
        reboot |= plan.needs_reboot;
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
