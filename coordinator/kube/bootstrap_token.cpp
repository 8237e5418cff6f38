#include "coordinator/kube/bootstrap_token.hpp"

#include "proto/crypto.hpp"

namespace graft::coordinator {

bootstrap_token make_bootstrap_token() {
    return {proto::random_string(6, proto::lowercase_alphanumeric), proto::random_string(16, proto::lowercase_alphanumeric)};
}

proto::json bootstrap_token_secret(const bootstrap_token& token, proto::clock::time_point expires,
                                   const std::string& extra_group, const std::string& node_name) {
    // stringData: the API server base64-encodes it into data, as `kubeadm token create` relies on too.
    return {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata",
             {{"name", token.secret_name()},
              {"namespace", bootstrap_token_namespace},
              {"labels", {{"app.kubernetes.io/managed-by", "graft"}, {"graft.dev/node", node_name}}}}},
            {"type", "bootstrap.kubernetes.io/token"},
            {"stringData",
             {{"description", "graft join credential for node " + node_name},
              {"token-id", token.id},
              {"token-secret", token.secret},
              {"expiration", proto::to_rfc3339(expires)},
              {"usage-bootstrap-authentication", "true"},
              {"usage-bootstrap-signing", "true"},
              {"auth-extra-groups", extra_group}}}};
}

std::string token_id_of_secret(std::string_view secret_name) {
    constexpr std::string_view prefix = "bootstrap-token-";
    if (!secret_name.starts_with(prefix) || secret_name.size() != prefix.size() + 6) return {};
    return std::string(secret_name.substr(prefix.size()));
}

}  // namespace graft::coordinator
