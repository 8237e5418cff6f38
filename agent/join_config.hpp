#pragma once
// The kubeadm JoinConfiguration a join spec stands for. kubeadm reads it with `kubeadm join --config FILE`, so the
// token travels in a 0600 file rather than on a command line every user can read in /proc.

#include "proto/messages.hpp"

#include <string>

namespace graft::agent {

// kubeadm.k8s.io/v1beta3 (kubeadm 1.22 and later; still read by 1.31+, which prefer v1beta4).
std::string kubeadm_join_configuration(const proto::join_spec& spec);

}  // namespace graft::agent
