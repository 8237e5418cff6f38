#pragma once
// The coordinator's join backends, said once: the flavour each hands out and what of config.json it reads. `init`,
// config.json's reader and writer, and make_join_backend() all go by this table.

#include "proto/flavours.hpp"

#include <string>
#include <string_view>

namespace graft::coordinator {

struct backend_traits {
    std::string_view name;                // --join-backend, and config.json's join.backend
    proto::flavour flavour;               // what its nodes join with
    std::string_view default_kubeconfig;  // init's default for --kubeconfig; "" for none
    bool needs_kubeconfig;                // its credentials are made through the Kubernetes API
    std::string_view default_command;     // a program run per node (join.command); "" when it runs none
    std::string_view command_example;     // that program as config.json's list, for an error message
    bool token_ttl;                       // its per-node credentials have a lifetime (join.token_ttl_seconds)
    bool api_server_endpoint;             // reads join.api_server_endpoint
    bool static_token;                    // one kubeadm token for every node (join.token, join.ca_cert_hashes)
};

// The backend of that name (the old name "command" is kubeadm-cli's), or null.
const backend_traits* find_backend(std::string_view name);
// "kubeadm, k3s, k0s, kubeadm-cli or static", for messages.
std::string backend_names();

}  // namespace graft::coordinator
