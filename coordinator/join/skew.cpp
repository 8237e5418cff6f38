#include "coordinator/join/skew.hpp"

#include <charconv>

namespace graft::coordinator {
namespace {

bool read_number(std::string_view& text, int& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc() || end == text.data()) return false;
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    return true;
}

std::string minor_of(const kube_version& v) { return std::to_string(v.major) + "." + std::to_string(v.minor); }

}  // namespace

std::optional<kube_version> parse_kube_version(std::string_view text) {
    if (text.starts_with("Kubernetes ")) text.remove_prefix(11);
    if (text.starts_with("v")) text.remove_prefix(1);
    kube_version v;
    if (!read_number(text, v.major) || !text.starts_with(".")) return std::nullopt;
    text.remove_prefix(1);
    if (!read_number(text, v.minor)) return std::nullopt;
    if (text.starts_with(".")) {
        text.remove_prefix(1);
        if (!read_number(text, v.patch)) return std::nullopt;
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    if (!text.empty() && text.front() != '+' && text.front() != '-') return std::nullopt;
    if (v.major < 1) return std::nullopt;
    return v;
}

std::string version_skew_problem(const kube_version& server, const std::optional<std::string>& kubelet,
                                 const std::optional<std::string>& kubeadm) {
    const std::string cluster = minor_of(server);
    if (kubelet) {
        auto v = parse_kube_version(*kubelet);
        if (!v) return "the node reported kubelet version '" + *kubelet + "', which is not a Kubernetes version";
        const int behind = (server.major - v->major) * 100 + (server.minor - v->minor);
        const int allowed = v->major == 1 && v->minor < 25 ? 2 : 3;
        if (behind < 0)
            return "kubelet " + *kubelet + " is newer than the cluster's API server (" + cluster +
                   "); kubelet must not be newer than kube-apiserver: install kubelet " + cluster + ".x on the node";
        if (behind > allowed)
            return "kubelet " + *kubelet + " is " + std::to_string(behind) + " minor versions older than the cluster (" +
                   cluster + "); at most " + std::to_string(allowed) + " are supported: install kubelet " + cluster +
                   ".x on the node";
    }
    if (kubeadm) {
        auto v = parse_kube_version(*kubeadm);
        if (!v) return "the node reported kubeadm version '" + *kubeadm + "', which is not a Kubernetes version";
        if (v->major != server.major || v->minor != server.minor)
            return "kubeadm " + *kubeadm + " cannot join a " + cluster + " cluster; kubeadm must match the cluster's "
                   "minor version: install kubeadm " + cluster + ".x on the node";
    }
    return {};
}

}  // namespace graft::coordinator
