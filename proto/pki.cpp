#include "proto/pki.hpp"

#include "proto/crypto.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace graft::proto {
namespace {

using ext_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION_free>>;
using bignum_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BN_free>>;

void add_extension(X509& cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : &cert, &cert, nullptr, nullptr, 0);
    ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    openssl_check(ext != nullptr, "X509V3_EXT_conf_nid");
    openssl_check(X509_add_ext(&cert, ext.get(), -1) == 1, "X509_add_ext");
}

void add_name_entry(X509_NAME& name, const char* field, const std::string& value) {
    if (value.empty()) return;
    openssl_check(X509_NAME_add_entry_by_txt(&name, field, MBSTRING_UTF8,
                                             reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0) == 1,
                  "X509_NAME_add_entry_by_txt");
}

bool is_p256(EVP_PKEY& key) {
    if (EVP_PKEY_get_base_id(&key) != EVP_PKEY_EC) return false;
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(&key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1) return false;
    return std::string_view(group, len) == SN_X9_62_prime256v1;
}

}  // namespace

pkey_ptr generate_p256_key() {
    pkey_ptr key(EVP_EC_gen(SN_X9_62_prime256v1));
    openssl_check(key != nullptr, "EVP_EC_gen(P-256)");
    return key;
}

std::string private_key_pem(EVP_PKEY& key) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    openssl_check(bio != nullptr, "BIO_new");
    openssl_check(PEM_write_bio_PrivateKey(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
                  "PEM_write_bio_PrivateKey");
    return bio_contents(*bio);
}

pkey_ptr private_key_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    openssl_check(key != nullptr, "PEM_read_bio_PrivateKey");
    return key;
}

std::string make_csr_pem(EVP_PKEY& key, std::string_view common_name) {
    x509_req_ptr req(X509_REQ_new());
    openssl_check(req != nullptr, "X509_REQ_new");
    openssl_check(X509_REQ_set_version(req.get(), 0) == 1, "X509_REQ_set_version");
    add_name_entry(*X509_REQ_get_subject_name(req.get()), "CN", std::string(common_name));
    openssl_check(X509_REQ_set_pubkey(req.get(), &key) == 1, "X509_REQ_set_pubkey");
    openssl_check(X509_REQ_sign(req.get(), &key, EVP_sha256()) > 0, "X509_REQ_sign");
    bio_ptr bio(BIO_new(BIO_s_mem()));
    openssl_check(bio != nullptr, "BIO_new");
    openssl_check(PEM_write_bio_X509_REQ(bio.get(), req.get()) == 1, "PEM_write_bio_X509_REQ");
    return bio_contents(*bio);
}

parsed_csr parse_csr(std::string_view pem) {
    auto bio = memory_bio(pem);
    x509_req_ptr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    if (!req) {
        openssl_clear_errors();
        throw std::invalid_argument("not a PEM certificate signing request");
    }
    pkey_ptr key(X509_REQ_get_pubkey(req.get()));
    if (!key) {
        openssl_clear_errors();
        throw std::invalid_argument("the certificate signing request has no usable public key");
    }
    if (X509_REQ_verify(req.get(), key.get()) != 1) {
        openssl_clear_errors();
        throw std::invalid_argument("the certificate signing request's signature does not verify");
    }
    if (!is_p256(*key)) throw std::invalid_argument("the certificate signing request's key is not ECDSA P-256");

    parsed_csr out{std::move(key), {}};
    X509_NAME* subject = X509_REQ_get_subject_name(req.get());
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx >= 0) {
        ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
        out.common_name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                               static_cast<std::size_t>(ASN1_STRING_length(data)));
    }
    return out;
}

x509_ptr certificate_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    openssl_check(cert != nullptr, "PEM_read_bio_X509");
    return cert;
}

std::vector<x509_ptr> certificates_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    std::vector<x509_ptr> out;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(cert);
    openssl_clear_errors();  // the read that ends the loop leaves "no start line" behind
    return out;
}

std::string certificate_pem(X509& cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    openssl_check(bio != nullptr, "BIO_new");
    openssl_check(PEM_write_bio_X509(bio.get(), &cert) == 1, "PEM_write_bio_X509");
    return bio_contents(*bio);
}

x509_ptr sign_certificate(X509* issuer, EVP_PKEY& issuer_key, EVP_PKEY& subject_key,
                          const certificate_profile& profile) {
    x509_ptr cert(X509_new());
    openssl_check(cert != nullptr, "X509_new");
    openssl_check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");

    // 127 random bits: positive, unique without a counter, and within RFC 5280's 20 octets.
    auto serial_bytes = random_bytes(16);
    serial_bytes[0] &= 0x7f;
    bignum_ptr serial(BN_bin2bn(serial_bytes.data(), static_cast<int>(serial_bytes.size()), nullptr));
    openssl_check(serial != nullptr, "BN_bin2bn");
    openssl_check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr,
                  "BN_to_ASN1_INTEGER");

    openssl_check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -static_cast<long>(profile.backdate.count())) !=
                      nullptr,
                  "X509_gmtime_adj(notBefore)");
    openssl_check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(profile.lifetime.count())) !=
                      nullptr,
                  "X509_gmtime_adj(notAfter)");

    X509_NAME* subject = X509_get_subject_name(cert.get());
    add_name_entry(*subject, "O", profile.organization);
    add_name_entry(*subject, "CN", profile.common_name);
    openssl_check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject) == 1,
                  "X509_set_issuer_name");
    openssl_check(X509_set_pubkey(cert.get(), &subject_key) == 1, "X509_set_pubkey");

    add_extension(*cert, issuer, NID_subject_key_identifier, "hash");
    if (issuer) add_extension(*cert, issuer, NID_authority_key_identifier, "keyid:always");
    switch (profile.use) {
    case certificate_use::ca:
        add_extension(*cert, issuer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
        add_extension(*cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
        break;
    case certificate_use::server:
        add_extension(*cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(*cert, issuer, NID_key_usage, "critical,digitalSignature");
        add_extension(*cert, issuer, NID_ext_key_usage, "serverAuth");
        break;
    case certificate_use::client:
        add_extension(*cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(*cert, issuer, NID_key_usage, "critical,digitalSignature");
        add_extension(*cert, issuer, NID_ext_key_usage, "clientAuth");
        break;
    }
    std::string sans;
    for (const auto& dns : profile.dns_names) sans += (sans.empty() ? "DNS:" : ",DNS:") + dns;
    for (const auto& ip : profile.ip_addresses) sans += (sans.empty() ? "IP:" : ",IP:") + ip;
    if (!sans.empty()) add_extension(*cert, issuer, NID_subject_alt_name, sans);

    openssl_check(X509_sign(cert.get(), &issuer_key, EVP_sha256()) > 0, "X509_sign");
    return cert;
}

std::string verify_certificate(X509& cert, X509& ca, certificate_use use) {
    x509_store_ptr store(X509_STORE_new());
    openssl_check(store != nullptr, "X509_STORE_new");
    openssl_check(X509_STORE_add_cert(store.get(), &ca) == 1, "X509_STORE_add_cert");
    x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    openssl_check(ctx != nullptr, "X509_STORE_CTX_new");
    openssl_check(X509_STORE_CTX_init(ctx.get(), store.get(), &cert, nullptr) == 1, "X509_STORE_CTX_init");
    if (use != certificate_use::ca) {
        X509_STORE_CTX_set_purpose(ctx.get(),
                                   use == certificate_use::server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT);
    }
    if (X509_verify_cert(ctx.get()) == 1) return {};
    openssl_clear_errors();
    return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

std::string spki_pin(X509& cert) {
    X509_PUBKEY* spki = X509_get_X509_PUBKEY(&cert);
    unsigned char* der = nullptr;
    int len = i2d_X509_PUBKEY(spki, &der);
    openssl_check(len > 0, "i2d_X509_PUBKEY");
    std::string digest = sha256_hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)));
    OPENSSL_free(der);
    return "sha256:" + digest;
}

std::string k3s_ca_hash(std::string_view bundle_pem) {
    const auto certs = certificates_from_pem(bundle_pem);
    if (certs.size() > 1) {
        // The bundle's later certificates: roots (no authority key id, or their own) and intermediates.
        x509_store_ptr store(X509_STORE_new());
        openssl_check(store != nullptr, "X509_STORE_new");
        // The stack borrows the certificates: freeing it frees only the stack.
        struct stack_free {
            void operator()(STACK_OF(X509)* s) const { sk_X509_free(s); }
        };
        std::unique_ptr<STACK_OF(X509), stack_free> intermediates(sk_X509_new_null());
        openssl_check(intermediates != nullptr, "sk_X509_new_null");
        for (std::size_t i = 1; i < certs.size(); ++i) {
            const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(certs[i].get());
            const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(certs[i].get());
            if (!akid || (skid && ASN1_OCTET_STRING_cmp(akid, skid) == 0))
                openssl_check(X509_STORE_add_cert(store.get(), certs[i].get()) == 1, "X509_STORE_add_cert");
            else
                openssl_check(sk_X509_push(intermediates.get(), certs[i].get()) > 0, "sk_X509_push");
        }
        x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
        openssl_check(ctx != nullptr, "X509_STORE_CTX_new");
        openssl_check(X509_STORE_CTX_init(ctx.get(), store.get(), certs[0].get(), intermediates.get()) == 1,
                      "X509_STORE_CTX_init");
        if (X509_verify_cert(ctx.get()) == 1) {
            STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
            X509* root = sk_X509_value(chain, sk_X509_num(chain) - 1);
            unsigned char* der = nullptr;
            const int len = i2d_X509(root, &der);
            openssl_check(len > 0, "i2d_X509");
            std::string digest = sha256_hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)));
            OPENSSL_free(der);
            return digest;
        }
        // No chain to a root in the bundle: k3s then hashes the bytes, as for a single certificate.
        openssl_clear_errors();
    }
    return sha256_hex(bundle_pem);
}

std::string spki_pin(EVP_PKEY& key) {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(&key, &der);
    openssl_check(len > 0, "i2d_PUBKEY");
    std::string digest = sha256_hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)));
    OPENSSL_free(der);
    return "sha256:" + digest;
}

bool is_spki_pin(std::string_view pin) {
    constexpr std::string_view prefix = "sha256:";
    if (pin.size() != prefix.size() + 64 || pin.substr(0, prefix.size()) != prefix) return false;
    for (char c : pin.substr(prefix.size()))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

static std::string subject_entry(X509& cert, int nid) {
    X509_NAME* subject = X509_get_subject_name(&cert);
    int idx = X509_NAME_get_index_by_NID(subject, nid, -1);
    if (idx < 0) return {};
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                       static_cast<std::size_t>(ASN1_STRING_length(data)));
}

std::string subject_common_name(X509& cert) { return subject_entry(cert, NID_commonName); }

std::string subject_organization(X509& cert) { return subject_entry(cert, NID_organizationName); }

std::string serial_hex(X509& cert) {
    bignum_ptr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(&cert), nullptr));
    openssl_check(bn != nullptr, "ASN1_INTEGER_to_BN");
    char* hex = BN_bn2hex(bn.get());
    openssl_check(hex != nullptr, "BN_bn2hex");
    std::string out(hex);
    OPENSSL_free(hex);
    return out;
}

std::chrono::system_clock::time_point not_after(X509& cert) {
    struct tm tm {};
    openssl_check(ASN1_TIME_to_tm(X509_get0_notAfter(&cert), &tm) == 1, "ASN1_TIME_to_tm");
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::chrono::system_clock::time_point not_before(X509& cert) {
    struct tm tm {};
    openssl_check(ASN1_TIME_to_tm(X509_get0_notBefore(&cert), &tm) == 1, "ASN1_TIME_to_tm");
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

bool certificate_matches_key(X509& cert, EVP_PKEY& key) {
    return X509_check_private_key(&cert, &key) == 1 || (openssl_clear_errors(), false);
}

}  // namespace graft::proto
