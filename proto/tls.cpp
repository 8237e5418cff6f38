#include "proto/tls.hpp"

#include "proto/openssl.hpp"
#include "proto/pki.hpp"

#include <openssl/ssl.h>

namespace graft::proto {
namespace {

void add_ca(ssl::context& ctx, std::string_view ca_pem) {
    auto certs = certificates_from_pem(ca_pem);
    openssl_check(!certs.empty(), "reading the CA certificate (no PEM certificate found)");
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.native_handle());
    for (auto& c : certs) openssl_check(X509_STORE_add_cert(store, c.get()) == 1, "X509_STORE_add_cert");
}

// Verification for a node that knows only the pin of its coordinator's CA: find that CA among the certificates the
// server sent, then run OpenSSL's full chain verification with it as the only trust anchor and the same parameters
// (purpose, host, time) the handshake would have used.
int verify_against_pinned_ca(X509_STORE_CTX* ctx, void* arg) {
    const std::string& pin = *static_cast<const std::string*>(arg);
    X509* leaf = X509_STORE_CTX_get0_cert(ctx);
    STACK_OF(X509)* presented = X509_STORE_CTX_get0_untrusted(ctx);
    X509* anchor = nullptr;
    for (int i = 0; presented && i < sk_X509_num(presented); ++i) {
        X509* candidate = sk_X509_value(presented, i);
        if (candidate != leaf && spki_pin(*candidate) == pin) anchor = candidate;
    }
    if (!anchor) {
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
        return 0;
    }
    x509_store_ptr store(X509_STORE_new());
    x509_store_ctx_ptr check(X509_STORE_CTX_new());
    if (!store || !check || X509_STORE_add_cert(store.get(), anchor) != 1 ||
        X509_STORE_CTX_init(check.get(), store.get(), leaf, presented) != 1 ||
        X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(check.get()), X509_STORE_CTX_get0_param(ctx)) != 1) {
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_OUT_OF_MEM);
        return 0;
    }
    if (X509_verify_cert(check.get()) == 1) return 1;
    X509_STORE_CTX_set_error(ctx, X509_STORE_CTX_get_error(check.get()));
    return 0;
}

}  // namespace

void apply_tls_policy(ssl::context& ctx) {
    openssl_check(SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_3_VERSION) == 1,
                  "SSL_CTX_set_min_proto_version(TLS 1.3)");
    openssl_check(SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_3_VERSION) == 1,
                  "SSL_CTX_set_max_proto_version(TLS 1.3)");
}

ssl::context make_server_context(std::string_view chain_pem, std::string_view key_pem, std::string_view client_ca_pem) {
    ssl::context ctx(ssl::context::tls_server);
    apply_tls_policy(ctx);
    ctx.use_certificate_chain(boost::asio::buffer(chain_pem.data(), chain_pem.size()));
    ctx.use_private_key(boost::asio::buffer(key_pem.data(), key_pem.size()), ssl::context::pem);
    add_ca(ctx, client_ca_pem);
    ctx.set_verify_mode(ssl::verify_peer);
    return ctx;
}

client_tls::client_tls() : ctx_(ssl::context::tls_client) {
    apply_tls_policy(ctx_);
    ctx_.set_verify_mode(ssl::verify_peer);
}

std::unique_ptr<client_tls> client_tls::trusting(std::string_view ca_pem) {
    std::unique_ptr<client_tls> c(new client_tls());
    add_ca(c->ctx_, ca_pem);
    return c;
}

std::unique_ptr<client_tls> client_tls::pinned(std::string pin) {
    std::unique_ptr<client_tls> c(new client_tls());
    c->pin_ = std::make_unique<std::string>(std::move(pin));
    SSL_CTX_set_cert_verify_callback(c->ctx_.native_handle(), verify_against_pinned_ca, c->pin_.get());
    return c;
}

void client_tls::use_identity(std::string_view cert_pem, std::string_view key_pem) {
    ctx_.use_certificate_chain(boost::asio::buffer(cert_pem.data(), cert_pem.size()));
    ctx_.use_private_key(boost::asio::buffer(key_pem.data(), key_pem.size()), ssl::context::pem);
}

}  // namespace graft::proto
