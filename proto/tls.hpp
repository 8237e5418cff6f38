#pragma once
// graft's TLS policy: TLS 1.3 only, both directions. Server contexts ask for a client certificate and
// verify any one presented against graft's CA; client contexts trust either one CA certificate or, before a node
// has one, whichever CA in the server's chain matches the pin from the boot partition.

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace graft::proto {

namespace ssl = boost::asio::ssl;

// TLS 1.3 as both the floor and the ceiling.
void apply_tls_policy(ssl::context& ctx);

// A server context presenting `chain_pem` (leaf first, then the CA, so a pinning client finds its anchor) and
// verifying client certificates against `client_ca_pem`. A client certificate is optional at the TLS layer, since
// enrollment has none; one that is presented must verify, and the router requires one on every node endpoint.
// For a connection from a client_tls context to `peer` (HOST:PORT): offers the session last had with it, and keeps
// the ticket this connection brings for the next. `peer` must outlive the connection. No-op for other contexts.
void resume_session(SSL* ssl, const std::string& peer);

ssl::context make_server_context(std::string_view chain_pem, std::string_view key_pem, std::string_view client_ca_pem);

struct resumable_session;

// A client context. Not shared between threads while connections are being opened. It keeps the last session
// ticket a server gave it, and https_call offers it back (resume_session), so repeated calls to the coordinator
// resume rather than pay for a full handshake each.
class client_tls {
public:
    // Trusts exactly the CA certificate given.
    static std::unique_ptr<client_tls> trusting(std::string_view ca_pem);
    // Trusts a server whose chain carries a CA with this SPKI pin (sha256:<hex>), and verifies the server's certificate
    // against that CA in full: signature, validity, purpose and host. There is no fallback that skips verification.
    static std::unique_ptr<client_tls> pinned(std::string pin);

    // Presents this certificate and key to the server (mutual TLS).
    void use_identity(std::string_view cert_pem, std::string_view key_pem);
    // The same from parsed objects, sparing the PEM round trip (the fleet simulator, which holds them already).
    void use_identity(X509& cert, EVP_PKEY& key);
    ssl::context& context() { return ctx_; }
    ~client_tls();

private:
    client_tls();
    void forget_session();
    ssl::context ctx_;
    std::unique_ptr<resumable_session> sessions_;
    std::unique_ptr<std::string> pin_;  // stable address: OpenSSL's verify callback holds a pointer to it
};

}  // namespace graft::proto
