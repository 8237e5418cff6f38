#pragma once
// Kubernetes' version skew policy for a joining node (https://kubernetes.io/releases/version-skew-policy/):
// kubelet must not be newer than kube-apiserver and may be up to three minor versions older (two before
// kubelet 1.25); kubeadm joins a cluster of its own minor version
// (https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/create-cluster-kubeadm/#version-skew-policy).

#include <optional>
#include <string>
#include <string_view>

namespace graft::coordinator {

struct kube_version {
    int major = 0;
    int minor = 0;
    int patch = 0;
};

// "v1.29.3", "1.29.3", "v1.29.3+k3s1", "v1.30.0-rc.1", "Kubernetes v1.29.3" (kubelet --version); nullopt otherwise.
std::optional<kube_version> parse_kube_version(std::string_view text);

// Empty when a node with these versions may join a cluster at `server`; otherwise why not and which version to
// install. A version the node did not report is not checked.
std::string version_skew_problem(const kube_version& server, const std::optional<std::string>& kubelet,
                                 const std::optional<std::string>& kubeadm);

}  // namespace graft::coordinator
