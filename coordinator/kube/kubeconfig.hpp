#pragma once
// Reads a kubeconfig (kubeadm's /etc/kubernetes/admin.conf, k3s's /etc/rancher/k3s/k3s.yaml, k0s's admin.conf):
// the current context's cluster (server URL, CA) and user (client certificate and key, or a bearer token), each
// either embedded (*-data, base64) or in a file named relative to the kubeconfig's own directory.
// Errors name the kubeconfig and the field, and say what to do.

#include "proto/https_client.hpp"

#include <string>
#include <string_view>

namespace graft::coordinator {

struct kube_credentials {
    std::string source;      // the kubeconfig's path, for messages
    std::string server;      // https://HOST:PORT
    proto::https_endpoint endpoint;
    std::string ca_pem;      // the cluster CA bundle the API server's certificate must chain to
    std::string client_certificate_pem;
    std::string client_key_pem;  // a secret: never logged
    std::string bearer_token;    // a secret: never logged
};

kube_credentials load_kubeconfig(const std::string& path);
// The same from text already read; relative file references resolve against `base_dir`.
kube_credentials parse_kubeconfig(std::string_view yaml, const std::string& source, const std::string& base_dir);

}  // namespace graft::coordinator
