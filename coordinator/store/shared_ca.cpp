#include "coordinator/store/shared_ca.hpp"

#include "proto/crypto.hpp"

namespace graft::coordinator {
namespace {

using json = nlohmann::json;

std::string ca_key(const std::string& prefix) { return prefix + "ca"; }
// The sealed key opens only as this prefix's CA key.
std::string sealing_context(const std::string& prefix) { return "graft CA key for " + prefix; }

std::string from_hex(const std::string& hex) {
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
        throw std::runtime_error("a certificate key is 64 lowercase hex digits");
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

}  // namespace

std::optional<std::string> shared_ca_certificate(etcd_client& etcd, const std::string& prefix) {
    auto kv = etcd.get(ca_key(prefix));
    if (!kv) return std::nullopt;
    return json::parse(kv->value).at("certificate").get<std::string>();
}

std::string share_ca(etcd_client& etcd, const std::string& prefix, const certificate_authority& ca) {
    const std::string certificate_key = proto::random_hex(32);
    const std::string sealed = proto::seal(from_hex(certificate_key), ca.key_pem(), sealing_context(prefix));
    const json value = {{"certificate", ca.ca_pem()}, {"sealed_key", proto::base64_encode(sealed)}};
    if (etcd.create(ca_key(prefix), value.dump(), 0))
        throw std::runtime_error("another coordinator's init put a CA under " + prefix + " in etcd meanwhile");
    return certificate_key;
}

certificate_authority adopt_shared_ca(etcd_client& etcd, const std::string& prefix, const std::string& dir,
                                      const std::string& certificate_key) {
    auto kv = etcd.get(ca_key(prefix));
    if (!kv) throw std::runtime_error("etcd holds no CA under " + prefix + ": the first coordinator's init puts it there");
    const auto value = json::parse(kv->value);
    auto sealed = proto::base64_decode(value.at("sealed_key").get<std::string>());
    std::optional<std::string> key_pem;
    if (sealed) key_pem = proto::unseal(from_hex(certificate_key), *sealed, sealing_context(prefix));
    if (!key_pem)
        throw std::runtime_error("the certificate key does not open the CA under " + prefix +
                                 ": give the certificate-key file the first coordinator's init wrote, for this prefix");
    return certificate_authority::adopt(dir, value.at("certificate").get<std::string>(), *key_pem);
}

void announce_coordinator(etcd_client& etcd, const std::string& prefix, const std::string& url) {
    etcd.txn({}, {etcd_op::put(prefix + "coordinators/" + url, url)});
}

std::vector<std::string> fleet_coordinators(etcd_client& etcd, const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& kv : etcd.get_prefix(prefix + "coordinators/")) out.push_back(kv.value);
    return out;
}

}  // namespace graft::coordinator
