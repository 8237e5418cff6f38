#include "proto/tls.hpp"

#include "proto/openssl.hpp"
#include "proto/pki.hpp"

#include <openssl/ssl.h>

#include <mutex>

namespace graft::proto {

// The session a client context last had with a server, so that its next connection resumes instead of making a full
// handshake. One per context: a context holds one identity, and a session carries the identity it began with.
struct resumable_session {
    std::mutex mutex;
    SSL_SESSION* session = nullptr;
    std::string peer;
    ~resumable_session() { SSL_SESSION_free(session); }
};

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

int slot_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int peer_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// OpenSSL's word that a server sent a ticket (TLS 1.3 sends it after the handshake, read with the response).
int keep_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* slot = static_cast<resumable_session*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), slot_index()));
    auto* peer = static_cast<const std::string*>(SSL_get_ex_data(ssl, peer_index()));
    if (!slot || !peer) return 0;
    std::lock_guard lock(slot->mutex);
    SSL_SESSION_free(slot->session);
    slot->session = session;  // returning 1 hands us OpenSSL's reference
    slot->peer = *peer;
    return 1;
}

}  // namespace

void resume_session(SSL* ssl, const std::string& peer) {
    auto* slot = static_cast<resumable_session*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), slot_index()));
    if (!slot) return;
    SSL_set_ex_data(ssl, peer_index(), const_cast<std::string*>(&peer));
    std::lock_guard lock(slot->mutex);
    if (slot->session && slot->peer == peer && SSL_SESSION_is_resumable(slot->session))
        SSL_set_session(ssl, slot->session);
}

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
    // With client certificates requested, OpenSSL resumes only sessions of this context's id and refuses a ticket
    // offered without one with a fatal internal_error alert: every client that caches sessions failed its second
    // connection.
    static constexpr unsigned char session_context[] = "graft-coordinator";
    openssl_check(SSL_CTX_set_session_id_context(ctx.native_handle(), session_context, sizeof session_context - 1) == 1,
                  "SSL_CTX_set_session_id_context");
    // One ticket per handshake: a client resumes with it and gets the next.
    SSL_CTX_set_num_tickets(ctx.native_handle(), 1);
    return ctx;
}

client_tls::client_tls() : ctx_(ssl::context::tls_client), sessions_(std::make_unique<resumable_session>()) {
    apply_tls_policy(ctx_);
    ctx_.set_verify_mode(ssl::verify_peer);
    SSL_CTX* ctx = ctx_.native_handle();
    SSL_CTX_set_ex_data(ctx, slot_index(), sessions_.get());
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, keep_new_session);
}

client_tls::~client_tls() = default;

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

void client_tls::forget_session() {
    // A session begun under another identity (or none) must not speak for a new one.
    std::lock_guard lock(sessions_->mutex);
    SSL_SESSION_free(sessions_->session);
    sessions_->session = nullptr;
}

void client_tls::use_identity(X509& cert, EVP_PKEY& key) {
    forget_session();
    openssl_check(SSL_CTX_use_certificate(ctx_.native_handle(), &cert) == 1, "SSL_CTX_use_certificate");
    openssl_check(SSL_CTX_use_PrivateKey(ctx_.native_handle(), &key) == 1, "SSL_CTX_use_PrivateKey");
}

void client_tls::use_identity(std::string_view cert_pem, std::string_view key_pem) {
    forget_session();
    ctx_.use_certificate_chain(boost::asio::buffer(cert_pem.data(), cert_pem.size()));
    ctx_.use_private_key(boost::asio::buffer(key_pem.data(), key_pem.size()), ssl::context::pem);
}

}  // namespace graft::proto
