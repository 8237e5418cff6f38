#pragma once
// The agent's life on a node, from first boot to Ready: enroll, prepare the host, fetch a join spec, join, and
// report kubelet's health until the coordinator says the Node is Ready. It resumes from
// ROOT/var/lib/graft after a restart or reboot instead of starting over. Runs on one thread.

#include "agent/join.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace graft::agent {

struct run_options {
    std::string config_path;  // empty: graft.json on the boot partition (see agent/config.hpp)
    std::string root = "/";
    // kubeadm, kubelet, k3s and k0s, and how long a join may take.
    join_programs programs;
    // kubelet's health endpoint, polled once the node has joined; empty: not checked.
    std::string kubelet_healthz = "http://127.0.0.1:10248/healthz";
    // How often a joined node reports until the coordinator says it is Ready.
    std::chrono::milliseconds readiness_interval{10000};
    std::chrono::milliseconds backoff_initial{1000};
    std::chrono::milliseconds backoff_cap{60000};
    std::chrono::seconds request_timeout{15};
    // Give up after this many failed joins (0: never). A join that keeps failing is reported as failed each time.
    unsigned max_join_attempts = 0;
    // journalctl, and the arguments that choose the journal, for the excerpts the coordinator gets.
    std::vector<std::string> journalctl{"journalctl"};
    // Once its work is done (the node Ready, or joined where readiness is not tracked) the agent stays: a heartbeat
    // this often, and the journal for the coordinator when an operator asks. With exit_when_ready it exits 0.
    std::chrono::milliseconds heartbeat_interval{30000};
    bool exit_when_ready = false;
};

// Returns the process exit code: 0 once the node is Ready (with exit_when_ready; otherwise it runs until a signal,
// 128 + its number), 1 on a fatal refusal (a bad token, a CA that does
// not match the pin) or when max_join_attempts ran out.
int run_agent(const run_options& options);

// Whether a certificate valid from `not_before` to `not_after` is due for renewal at `now`: past two thirds of its
// life, brought forward by `jitter` (0 to 1) times a tenth of it, so a fleet enrolled together does not renew
// together.
bool renewal_due(std::chrono::system_clock::time_point not_before, std::chrono::system_clock::time_point not_after,
                 std::chrono::system_clock::time_point now, double jitter);

// `graft-agent renew`: renews the node's certificate over its current one when it is due (or `force`). 0 when it
// was renewed or is not due yet, 1 when the coordinator refused.
int renew_certificate(const run_options& options, bool force);

// Prints the local state under ROOT for `graft-agent status`.
int print_status(const std::string& root, bool as_json);

}  // namespace graft::agent
