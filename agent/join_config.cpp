#include "agent/join_config.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace graft::agent {
namespace {

// A JSON string is a valid YAML double-quoted scalar, so JSON's escaping quotes every value safely.
std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

}  // namespace

std::string join_configuration_api_version(const std::string& kubeadm_version) {
    int major = 0, minor = 0;
    const char* text = kubeadm_version.c_str();
    if (*text == 'v') ++text;
    if (std::sscanf(text, "%d.%d", &major, &minor) == 2 && (major > 1 || (major == 1 && minor >= 31)))
        return "kubeadm.k8s.io/v1beta4";
    return "kubeadm.k8s.io/v1beta3";
}

std::string kubeadm_join_configuration(const proto::join_spec& spec, const join_configuration_options& options) {
    const bool v1beta4 = options.api_version == "kubeadm.k8s.io/v1beta4";
    std::string y;
    y += "apiVersion: " + options.api_version + "\n";
    y += "kind: JoinConfiguration\n";
    y += "discovery:\n";
    y += "  bootstrapToken:\n";
    y += "    apiServerEndpoint: " + quoted(spec.api_server_endpoint) + "\n";
    y += "    token: " + quoted(spec.token) + "\n";
    y += "    caCertHashes:\n";
    for (const auto& h : spec.ca_cert_hashes) y += "    - " + quoted(h) + "\n";
    y += "nodeRegistration:\n";
    y += "  name: " + quoted(spec.node_name) + "\n";
    if (!options.cri_socket.empty()) y += "  criSocket: " + quoted(options.cri_socket) + "\n";
    if (!options.node_ip.empty()) {
        // v1beta4 made extra args a list of name/value pairs; v1beta3 has a map.
        if (v1beta4) y += "  kubeletExtraArgs:\n  - name: \"node-ip\"\n    value: " + quoted(options.node_ip) + "\n";
        else y += "  kubeletExtraArgs:\n    node-ip: " + quoted(options.node_ip) + "\n";
    }
    if (!options.patches_dir.empty()) {
        y += "patches:\n";
        y += "  directory: " + quoted(options.patches_dir) + "\n";
    }
    return y;
}

}  // namespace graft::agent
