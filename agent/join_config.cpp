#include "agent/join_config.hpp"

#include <nlohmann/json.hpp>

namespace graft::agent {
namespace {

// A JSON string is a valid YAML double-quoted scalar, so JSON's escaping quotes every value safely.
std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

}  // namespace

std::string kubeadm_join_configuration(const proto::join_spec& spec, const std::string& patches_dir) {
    std::string y;
    y += "apiVersion: kubeadm.k8s.io/v1beta3\n";
    y += "kind: JoinConfiguration\n";
    y += "discovery:\n";
    y += "  bootstrapToken:\n";
    y += "    apiServerEndpoint: " + quoted(spec.api_server_endpoint) + "\n";
    y += "    token: " + quoted(spec.token) + "\n";
    y += "    caCertHashes:\n";
    for (const auto& h : spec.ca_cert_hashes) y += "    - " + quoted(h) + "\n";
    y += "nodeRegistration:\n";
    y += "  name: " + quoted(spec.node_name) + "\n";
    if (!patches_dir.empty()) {
        y += "patches:\n";
        y += "  directory: " + quoted(patches_dir) + "\n";
    }
    return y;
}

}  // namespace graft::agent
