#pragma once
// The kubeadm JoinConfiguration a join spec stands for. kubeadm reads it with `kubeadm join --config FILE`, so the
// token travels in a 0600 file rather than on a command line every user can read in /proc.

#include "proto/messages.hpp"

#include <string>

namespace graft::agent {

// kubeadm.k8s.io/v1beta3 (kubeadm 1.22 and later; still read by 1.31+, which prefer v1beta4).
// `patches_dir`, when not empty, is a kubeadm patches directory for this node (kubeadm 1.25 and later patch the
// kubelet configuration from it).
std::string kubeadm_join_configuration(const proto::join_spec& spec, const std::string& patches_dir = {});

}  // namespace graft::agent
