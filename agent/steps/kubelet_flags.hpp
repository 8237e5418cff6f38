#pragma once
// kubelet's per-node flags file: KUBELET_EXTRA_ARGS in /etc/default/kubelet (Debian, Ubuntu, Raspberry Pi OS, Kali),
// /etc/sysconfig/kubelet (RPM-style systems). kubeadm's kubelet drop-in reads it, and kubeadm join leaves it alone.

#include "agent/steps/step.hpp"

#include <optional>
#include <string>

namespace graft::agent {

// Which file this node's kubelet reads its extra flags from.
std::string kubelet_flags_file(const host& h);
// The value of --NAME in KUBELET_EXTRA_ARGS, if set.
std::optional<std::string> kubelet_flag(const std::string& content, const std::string& name);
// The file with --NAME=VALUE set in KUBELET_EXTRA_ARGS (replacing an earlier value), every other line and flag kept.
std::string with_kubelet_flag(const std::string& content, const std::string& name, const std::string& value);

}  // namespace graft::agent
