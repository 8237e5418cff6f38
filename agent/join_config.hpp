#pragma once
// The kubeadm JoinConfiguration a join spec stands for. kubeadm reads it with `kubeadm join --config FILE`, so the
// token travels in a 0600 file rather than on a command line every user can read in /proc.

#include "proto/messages.hpp"

#include <string>

namespace graft::agent {

struct join_configuration_options {
    // kubeadm.k8s.io/v1beta3 (kubeadm 1.22 to 1.30) or v1beta4 (kubeadm 1.31 and later, which reads both).
    std::string api_version = "kubeadm.k8s.io/v1beta3";
    // The CRI socket of the runtime host preparation configured; empty lets kubeadm detect it.
    std::string cri_socket;
    // kubelet's --node-ip; empty leaves the choice to kubelet.
    std::string node_ip;
    // A kubeadm patches directory for this node (kubeadm 1.25 and later patch the kubelet configuration from it).
    std::string patches_dir;
};

// The apiVersion for a kubeadm of `version` ("v1.31.2"); v1beta3 when the version is unknown.
std::string join_configuration_api_version(const std::string& kubeadm_version);

std::string kubeadm_join_configuration(const proto::join_spec& spec, const join_configuration_options& options = {});

}  // namespace graft::agent
