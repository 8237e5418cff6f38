#pragma once
// The Kubernetes distributions a node joins with, said once: each flavour's name, the shape of its join token, whether
// its join pins the cluster CA, and how its join command is shown with the secret left out. The coordinator's join
// backends each hand out one flavour (coordinator/join/backend_table.hpp); the agent joins with what the spec says.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace graft::proto {

enum class flavour { kubeadm, k3s, k0s };

struct flavour_traits {
    flavour id;
    std::string_view name;
    // What its join token looks like, for an error message.
    std::string_view token_form;
    // Whether a join token of this flavour has the right shape.
    bool (*token_valid)(std::string_view token);
    // Whether its join spec carries pins of the cluster CA (kubeadm's --discovery-token-ca-cert-hash).
    bool pins_cluster_ca;
};

const flavour_traits& traits(flavour f);
std::string_view to_string(flavour f);
std::optional<flavour> flavour_from_string(std::string_view name);
// "kubeadm, k3s or k0s", for messages.
std::string flavour_names();

// The join command a spec of flavour `f` stands for, with the token's secret part replaced by asterisks.
std::string display_join_command(flavour f, const std::string& api_server_endpoint, const std::string& token,
                                 const std::vector<std::string>& ca_cert_hashes);

}  // namespace graft::proto
