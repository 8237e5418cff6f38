#pragma once
// The agent's life on a node, from first boot to joined: enroll, report, fetch a join spec, join. It resumes from
// ROOT/var/lib/graft after a restart or reboot instead of starting over. Runs on one thread.

#include <chrono>
#include <string>
#include <vector>

namespace graft::agent {

struct run_options {
    std::string config_path;
    std::string root = "/";
    // The join program; the agent appends `join --config FILE`, as kubeadm expects.
    std::vector<std::string> join_command{"kubeadm"};
    std::chrono::milliseconds backoff_initial{1000};
    std::chrono::milliseconds backoff_cap{60000};
    std::chrono::seconds request_timeout{15};
    std::chrono::seconds join_timeout{600};
    // Give up after this many failed joins (0: never). A join that keeps failing is reported as failed each time.
    unsigned max_join_attempts = 0;
};

// Returns the process exit code: 0 once the node has joined, 1 on a fatal refusal (a bad token, a CA that does
// not match the pin) or when max_join_attempts ran out.
int run_agent(const run_options& options);

// Prints the local state under ROOT for `graft-agent status`.
int print_status(const std::string& root, bool as_json);

}  // namespace graft::agent
