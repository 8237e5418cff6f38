#pragma once
// Joining the cluster with a join spec, one flow per flavour:
//   kubeadm  a JoinConfiguration (0600, removed afterwards) and `kubeadm join --config FILE`; after a failure,
//            `kubeadm reset -f`, so the next attempt starts clean
//   k3s      /etc/rancher/k3s/config.yaml.d/90-graft.yaml naming the server and a 0600 token file, then k3s-agent.service started
//            through systemd (the unit k3s's installer writes with INSTALL_K3S_EXEC=agent)
//   k0s      a 0600 token file, `k0s install worker --token-file FILE`, then `k0s start`
// Programs' output goes to the journal line by line, with anything shaped like a token redacted.

#include "agent/state.hpp"
#include "agent/steps/step.hpp"
#include "agent/system/live_system.hpp"
#include "proto/messages.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace graft::agent {

struct join_programs {
    std::vector<std::string> kubeadm{"kubeadm"};
    std::vector<std::string> kubelet{"kubelet"};
    std::vector<std::string> k3s{"k3s"};
    std::vector<std::string> k0s{"k0s"};
    std::chrono::seconds timeout{600};
};

// The versions of what this node would join with, for the coordinator's version-skew check: kubelet and kubeadm
// for kubeadm; the k3s or k0s release (which bundles its kubelet) as the kubelet version otherwise. A program that
// is missing or answers oddly is left out.
proto::join_request local_versions(const std::string& flavour, const join_programs& programs);

// The CRI socket of the runtime on this host: containerd's when it is installed (host preparation configured it),
// else cri-dockerd's when only Docker is, else empty.
std::string cri_socket(const host& h);

struct join_outcome {
    bool joined = false;
    std::string error;  // why not, with the program's last line of output
};

class node_joiner {
public:
    // `live` is null when the root is not the running system: then units are not started, only written about.
    node_joiner(const host& h, const state_store& store, live_system* live, join_programs programs);

    join_outcome join(const proto::join_spec& spec, const std::string& node_ip);

private:
    join_outcome kubeadm(const proto::join_spec& spec, const std::string& node_ip);
    join_outcome k3s(const proto::join_spec& spec, const std::string& node_ip);
    join_outcome k0s(const proto::join_spec& spec, const std::string& node_ip);
    // Runs argv, logging its output; "" on success, else why not.
    std::string run(const std::vector<std::string>& argv, const std::string& node);
    // The last lines kubelet wrote to the journal, for a failure report (running system only).
    std::string kubelet_journal_tail();

    const host& host_;
    const state_store& store_;
    live_system* live_;
    join_programs programs_;
};

}  // namespace graft::agent
