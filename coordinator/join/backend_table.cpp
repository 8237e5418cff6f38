#include "coordinator/join/backend_table.hpp"

#include <array>

namespace graft::coordinator {
namespace {

using proto::flavour;

constexpr std::array<backend_traits, 5> backends{{
    // name, flavour, default kubeconfig, needs it, default command, its example, token TTL, endpoint, static token
    {"kubeadm", flavour::kubeadm, "/etc/kubernetes/admin.conf", true, "", "", true, true, false},
    {"k3s", flavour::k3s, "/etc/rancher/k3s/k3s.yaml", true, "", "", true, true, false},
    {"k0s", flavour::k0s, "", false, "k0s token create --role=worker",
     R"(["k0s", "token", "create", "--role=worker"])", true, false, false},
    {"kubeadm-cli", flavour::kubeadm, "", false, "kubeadm token create --print-join-command --ttl 15m",
     R"(["kubeadm", "token", "create", "--print-join-command", "--ttl", "15m"])", false, false, false},
    {"static", flavour::kubeadm, "", false, "", "", false, true, true},
}};

}  // namespace

const backend_traits* find_backend(std::string_view name) {
    if (name == "command") name = "kubeadm-cli";  // its name before k3s and k0s came
    for (const auto& b : backends)
        if (b.name == name) return &b;
    return nullptr;
}

std::string backend_names() {
    std::string out;
    for (std::size_t i = 0; i < backends.size(); ++i)
        out += std::string(i == 0 ? "" : i + 1 == backends.size() ? " or " : ", ") + std::string(backends[i].name);
    return out;
}

}  // namespace graft::coordinator
