#pragma once
// The certificate work both sides of graft need: node and CA keys, CSRs, signing, verification, pins.
// Every function is safe to call from any thread; the returned objects are owned by the caller.

#include "proto/openssl.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace graft::proto {

// The O of a client certificate graft's CA signs says whose it is. A node's certificate speaks for its node (its
// reports, its join, its renewal); an operator's reads the fleet. Neither can do the other's part.
namespace certificate_roles {
inline constexpr const char* node = "graft:nodes";
inline constexpr const char* operator_ = "graft:operators";
}  // namespace certificate_roles

// A fresh ECDSA P-256 key pair.
pkey_ptr generate_p256_key();
std::string private_key_pem(EVP_PKEY& key);
// Parses a PEM private key; throws openssl_error when it is not one.
pkey_ptr private_key_from_pem(std::string_view pem);

// A CSR signed by `key`. The common name is only a hint: the coordinator never copies it into a certificate.
std::string make_csr_pem(EVP_PKEY& key, std::string_view common_name);

struct parsed_csr {
    pkey_ptr public_key;      // the only thing of the CSR a signer may use
    std::string common_name;  // informational
};
// Parses a PEM CSR, checks its self-signature and that its key is ECDSA P-256; throws std::invalid_argument
// with a readable reason otherwise.
parsed_csr parse_csr(std::string_view pem);

x509_ptr certificate_from_pem(std::string_view pem);
std::string certificate_pem(X509& cert);
// Every certificate in a PEM bundle, in order (a server's chain file, say).
std::vector<x509_ptr> certificates_from_pem(std::string_view pem);

enum class certificate_use { ca, server, client };

// What the signer decides about a certificate. Nothing here comes from a CSR.
struct certificate_profile {
    std::string common_name;
    std::string organization;
    std::vector<std::string> dns_names;
    std::vector<std::string> ip_addresses;
    certificate_use use = certificate_use::client;
    std::chrono::seconds lifetime{std::chrono::hours(24)};
    // notBefore lies this far in the past, so a node whose clock is a little behind still accepts the certificate.
    std::chrono::seconds backdate{std::chrono::minutes(5)};
};

// Signs `subject_key`'s public half with `issuer_key`. A null `issuer` makes a self-signed certificate
// (then `subject_key` and `issuer_key` are the same key).
x509_ptr sign_certificate(X509* issuer, EVP_PKEY& issuer_key, EVP_PKEY& subject_key, const certificate_profile& profile);

// Verifies `cert` against the single trust anchor `ca` for `use` (server or client purpose).
// Returns an empty string when it verifies, else OpenSSL's reason.
std::string verify_certificate(X509& cert, X509& ca, certificate_use use);

// kubeadm's public-key pin: "sha256:" + hex SHA-256 of the DER SubjectPublicKeyInfo.
std::string spki_pin(X509& cert);
// The same pin for a key (a CSR's): equal to spki_pin of any certificate for that key.
std::string spki_pin(EVP_PKEY& key);
// The CA hash of a k3s secure token (K10<hash>::...) for the CA bundle k3s serves at /cacerts, as k3s computes it
// (docs.k3s.io, "k3s token": Token Format): for a single certificate (k3s's own self-signed CA), the SHA-256 of the
// bundle's bytes as they are; for a bundle of several (a custom CA: intermediate, then root), the SHA-256 of the
// DER of the root that the bundle's first certificate chains to, among the bundle's other certificates.
std::string k3s_ca_hash(std::string_view bundle_pem);
// True when `pin` has the form sha256:<64 lowercase hex digits>.
bool is_spki_pin(std::string_view pin);

std::string subject_common_name(X509& cert);
// The subject's O: the role graft gave the certificate (certificate_roles below).
std::string subject_organization(X509& cert);
std::string serial_hex(X509& cert);
std::chrono::system_clock::time_point not_after(X509& cert);
std::chrono::system_clock::time_point not_before(X509& cert);
// True when the certificate's public key is the public half of `key`.
bool certificate_matches_key(X509& cert, EVP_PKEY& key);

}  // namespace graft::proto
