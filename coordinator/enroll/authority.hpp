#pragma once
// The coordinator's certificate authority: its own CA key and certificate, the server certificate it presents,
// and the client certificates it signs for nodes. Read-only after construction, so safe to share between threads.

#include "proto/pki.hpp"

#include <chrono>
#include <string>

namespace graft::coordinator {

class certificate_authority {
public:
    // Loads ca.crt and ca.key from `dir`; throws naming the file that is missing or unreadable.
    static certificate_authority load(const std::string& dir);
    // Creates a new CA in `dir` (ca.key 0600, ca.crt) and returns it; refuses to overwrite an existing one.
    static certificate_authority create(const std::string& dir, std::chrono::hours lifetime);
    // Takes the CA another coordinator of the same fleet made (its certificate and key, PEM) into `dir`, as create
    // would have written it; refuses a key that is not the certificate's, and to overwrite a CA.
    static certificate_authority adopt(const std::string& dir, const std::string& cert_pem, const std::string& key_pem);

    // A server certificate for the advertise host (an IP or DNS SAN), written with its key to `dir` as server.crt
    // (leaf then CA, the chain a pinning agent needs) and server.key (0600).
    void issue_server_certificate(const std::string& dir, const std::string& host, std::chrono::hours lifetime) const;

    // A node's client certificate. Subject and extensions come from the arguments only, never from the CSR.
    proto::x509_ptr sign_node(EVP_PKEY& node_public_key, const std::string& node_name,
                              std::chrono::seconds lifetime) const;
    // An operator's client certificate: it reads the fleet (status, journals, metrics) and speaks for no node.
    proto::x509_ptr sign_operator(EVP_PKEY& public_key, const std::string& operator_name,
                                  std::chrono::seconds lifetime) const;

    std::string ca_pem() const { return ca_pem_; }
    std::string pin() const { return pin_; }
    // The CA's private key, PEM: only for sealing it into the shared registry (shared_ca.hpp).
    std::string key_pem() const;

private:
    proto::x509_ptr sign_client(EVP_PKEY& public_key, const std::string& name, const char* role,
                                std::chrono::seconds lifetime) const;
    certificate_authority(proto::x509_ptr cert, proto::pkey_ptr key);
    proto::x509_ptr cert_;
    proto::pkey_ptr key_;
    std::string ca_pem_;
    std::string pin_;
};

}  // namespace graft::coordinator
