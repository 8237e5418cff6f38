#pragma once
// Bootstrap tokens as Kubernetes defines them (https://kubernetes.io/docs/reference/access-authn-authz/bootstrap-tokens/,
// "Bootstrap Token Secret Format"): a Secret named bootstrap-token-<token-id> in kube-system, of type
// bootstrap.kubernetes.io/token, whose token-id matches [a-z0-9]{6} and token-secret [a-z0-9]{16}, with an
// RFC 3339 expiration, the usages the token may serve, and extra groups that must start with system:bootstrappers:.
// kubeadm joins with one (group system:bootstrappers:kubeadm:default-node-token); so do k3s releases that have
// `k3s token create` (group system:bootstrappers:k3s:default-node-token).

#include "proto/json_fields.hpp"
#include "proto/time.hpp"

#include <string>

namespace graft::coordinator {

struct bootstrap_token {
    std::string id;      // public: [a-z0-9]{6}
    std::string secret;  // [a-z0-9]{16}: never logged
    std::string text() const { return id + "." + secret; }
    std::string secret_name() const { return "bootstrap-token-" + id; }
};

// A fresh token from the CSPRNG.
bootstrap_token make_bootstrap_token();

inline constexpr const char* kubeadm_node_group = "system:bootstrappers:kubeadm:default-node-token";
inline constexpr const char* k3s_node_group = "system:bootstrappers:k3s:default-node-token";
inline constexpr const char* bootstrap_token_namespace = "kube-system";

// The Secret for `token`, valid until `expires`, usable for authentication and signing, for a graft node.
proto::json bootstrap_token_secret(const bootstrap_token& token, proto::clock::time_point expires,
                                   const std::string& extra_group, const std::string& node_name);

// The token id of a bootstrap-token Secret name, or "" when the name is not one.
std::string token_id_of_secret(std::string_view secret_name);

}  // namespace graft::coordinator
