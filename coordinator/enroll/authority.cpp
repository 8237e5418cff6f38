#include "coordinator/enroll/authority.hpp"

#include "proto/files.hpp"

#include <boost/asio/ip/address.hpp>

#include <filesystem>

namespace graft::coordinator {

certificate_authority::certificate_authority(proto::x509_ptr cert, proto::pkey_ptr key)
    : cert_(std::move(cert)), key_(std::move(key)), ca_pem_(proto::certificate_pem(*cert_)), pin_(proto::spki_pin(*cert_)) {}

certificate_authority certificate_authority::load(const std::string& dir) {
    const std::string cert_path = dir + "/ca.crt", key_path = dir + "/ca.key";
    auto cert = proto::certificate_from_pem(proto::read_file(cert_path));
    auto key = proto::private_key_from_pem(proto::read_file(key_path));
    if (!proto::certificate_matches_key(*cert, *key))
        throw std::runtime_error(key_path + " is not the key of " + cert_path);
    return certificate_authority(std::move(cert), std::move(key));
}

namespace {

void refuse_to_replace(const std::string& dir) {
    const std::string cert_path = dir + "/ca.crt", key_path = dir + "/ca.key";
    if (std::filesystem::exists(cert_path) || std::filesystem::exists(key_path))
        throw std::runtime_error(cert_path + " already exists; refusing to replace a CA that nodes trust");
}

}  // namespace

certificate_authority certificate_authority::adopt(const std::string& dir, const std::string& cert_pem, const std::string& key_pem) {
    refuse_to_replace(dir);
    auto cert = proto::certificate_from_pem(cert_pem);
    auto key = proto::private_key_from_pem(key_pem);
    if (!proto::certificate_matches_key(*cert, *key)) throw std::runtime_error("the shared CA's key is not its certificate's key");
    proto::write_file_atomic(dir + "/ca.key", proto::private_key_pem(*key), 0600);
    proto::write_file_atomic(dir + "/ca.crt", proto::certificate_pem(*cert), 0644);
    return certificate_authority(std::move(cert), std::move(key));
}

std::string certificate_authority::key_pem() const { return proto::private_key_pem(*key_); }

certificate_authority certificate_authority::create(const std::string& dir, std::chrono::hours lifetime) {
    const std::string cert_path = dir + "/ca.crt", key_path = dir + "/ca.key";
    refuse_to_replace(dir);
    auto key = proto::generate_p256_key();
    proto::certificate_profile profile;
    profile.common_name = "graft coordinator CA";
    profile.organization = "graft";
    profile.use = proto::certificate_use::ca;
    profile.lifetime = lifetime;
    auto cert = proto::sign_certificate(nullptr, *key, *key, profile);
    proto::write_file_atomic(key_path, proto::private_key_pem(*key), 0600);
    proto::write_file_atomic(cert_path, proto::certificate_pem(*cert), 0644);
    return certificate_authority(std::move(cert), std::move(key));
}

void certificate_authority::issue_server_certificate(const std::string& dir, const std::string& host,
                                                     std::chrono::hours lifetime) const {
    auto key = proto::generate_p256_key();
    proto::certificate_profile profile;
    profile.common_name = host;
    profile.organization = "graft";
    profile.use = proto::certificate_use::server;
    profile.lifetime = lifetime;
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    if (ec) profile.dns_names.push_back(host);
    else profile.ip_addresses.push_back(host);
    auto cert = proto::sign_certificate(cert_.get(), *key_, *key, profile);
    proto::write_file_atomic(dir + "/server.key", proto::private_key_pem(*key), 0600);
    proto::write_file_atomic(dir + "/server.crt", proto::certificate_pem(*cert) + ca_pem_, 0644);
}

proto::x509_ptr certificate_authority::sign_node(EVP_PKEY& node_public_key, const std::string& node_name,
                                                 std::chrono::seconds lifetime) const {
    return sign_client(node_public_key, node_name, proto::certificate_roles::node, lifetime);
}

proto::x509_ptr certificate_authority::sign_operator(EVP_PKEY& public_key, const std::string& operator_name,
                                                     std::chrono::seconds lifetime) const {
    return sign_client(public_key, operator_name, proto::certificate_roles::operator_, lifetime);
}

proto::x509_ptr certificate_authority::sign_client(EVP_PKEY& public_key, const std::string& name, const char* role,
                                                   std::chrono::seconds lifetime) const {
    proto::certificate_profile profile;
    profile.common_name = name;
    profile.organization = role;
    profile.use = proto::certificate_use::client;
    profile.lifetime = lifetime;
    return proto::sign_certificate(cert_.get(), *key_, public_key, profile);
}

}  // namespace graft::coordinator
