#include "proto/flavours.hpp"

#include "proto/messages.hpp"

#include <array>

namespace graft::proto {
namespace {

// graft hands out k3s tokens only in the secure form, which lets the node check the server's CA first.
bool k3s_token(std::string_view t) { return t.starts_with("K10") && t.find("::") != std::string_view::npos; }
bool k0s_token(std::string_view t) { return !t.empty() && t.find_first_of(" \n\t'\"") == std::string_view::npos; }

constexpr std::array<flavour_traits, 3> table{{
    {flavour::kubeadm, "kubeadm", "a kubeadm bootstrap token ([a-z0-9]{6}.[a-z0-9]{16})", is_bootstrap_token, true},
    {flavour::k3s, "k3s", "a k3s secure token (K10<ca hash>::<credentials>)", k3s_token, false},
    {flavour::k0s, "k0s", "a k0s join token (base64 text)", k0s_token, false},
}};

}  // namespace

const flavour_traits& traits(flavour f) { return table.at(static_cast<std::size_t>(f)); }

std::string_view to_string(flavour f) { return traits(f).name; }

std::optional<flavour> flavour_from_string(std::string_view name) {
    for (const auto& t : table)
        if (t.name == name) return t.id;
    return std::nullopt;
}

std::string flavour_names() {
    std::string out;
    for (std::size_t i = 0; i < table.size(); ++i)
        out += std::string(i == 0 ? "" : i + 1 == table.size() ? " or " : ", ") + std::string(table[i].name);
    return out;
}

std::string display_join_command(flavour f, const std::string& api_server_endpoint, const std::string& token,
                                 const std::vector<std::string>& ca_cert_hashes) {
    switch (f) {
    case flavour::k3s: {
        // Keep K10<ca hash>:: and the token id; the credentials' secret goes.
        const auto sep = token.find("::");
        const std::string creds = sep == std::string::npos ? "" : token.substr(sep + 2);
        const std::string shown = is_bootstrap_token(creds) ? creds.substr(0, 7) + "****************" : "****";
        return "k3s agent --server https://" + api_server_endpoint + " --token " +
               (sep == std::string::npos ? "" : token.substr(0, sep + 2)) + shown;
    }
    case flavour::k0s:
        return "k0s install worker --token-file <k0s join token for " + api_server_endpoint + ">";
    case flavour::kubeadm:
        break;
    }
    std::string redacted = token.size() > 7 ? token.substr(0, 7) + std::string(token.size() - 7, '*') : "****";
    std::string cmd = "kubeadm join " + api_server_endpoint + " --token " + redacted;
    for (const auto& h : ca_cert_hashes) cmd += " --discovery-token-ca-cert-hash " + h;
    return cmd;
}

}  // namespace graft::proto
