// The TLS policy over a real loopback connection: a throwaway CA and server certificate, the coordinator's server
// context, and the agent's client contexts, talking through Beast on 127.0.0.1 with an ephemeral port.
#include "proto/https_client.hpp"
#include "proto/pki.hpp"
#include "proto/tls.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <catch2/catch.hpp>
#include <openssl/ssl.h>

#include <thread>

using namespace graft::proto;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

struct pki_set {
    pkey_ptr ca_key = generate_p256_key();
    x509_ptr ca;
    std::string chain_pem, server_key_pem;

    explicit pki_set(std::string server_ip = "127.0.0.1") {
        certificate_profile p;
        p.common_name = "test CA";
        p.use = certificate_use::ca;
        ca = sign_certificate(nullptr, *ca_key, *ca_key, p);
        auto key = generate_p256_key();
        certificate_profile s;
        s.common_name = server_ip;
        s.use = certificate_use::server;
        s.ip_addresses = {server_ip};
        auto cert = sign_certificate(ca.get(), *ca_key, *key, s);
        chain_pem = certificate_pem(*cert) + certificate_pem(*ca);
        server_key_pem = private_key_pem(*key);
    }
    std::string ca_pem() { return certificate_pem(*ca); }
};

// A one-request HTTPS server that answers with the client certificate's common name (or "none").
class echo_server {
public:
    explicit echo_server(ssl::context& ctx, unsigned short port = 0)
        : ctx_(ctx), acceptor_(io_, {net::ip::make_address("127.0.0.1"), port}) {
        net::co_spawn(io_, serve(), net::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~echo_server() {
        io_.stop();
        thread_.join();
    }
    std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }

private:
    net::awaitable<void> serve() {
        for (;;) {
            auto socket = co_await acceptor_.async_accept(net::use_awaitable);
            beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), ctx_);
            try {
                co_await stream.async_handshake(ssl::stream_base::server, net::use_awaitable);
                beast::flat_buffer buf;
                http::request<http::string_body> req;
                co_await http::async_read(stream, buf, req, net::use_awaitable);
                X509* peer = SSL_get0_peer_certificate(stream.native_handle());
                http::response<http::string_body> res{http::status::ok, 11};
                res.body() = peer ? subject_common_name(*peer) : "none";
                res.prepare_payload();
                co_await http::async_write(stream, res, net::use_awaitable);
                co_await stream.async_shutdown(net::as_tuple(net::use_awaitable));
            } catch (const std::exception&) {
            }
        }
    }
    net::io_context io_;
    ssl::context& ctx_;
    net::ip::tcp::acceptor acceptor_;
    std::thread thread_;
};

http_result get(ssl::context& ctx, const std::string& port) {
    return https_call_sync(ctx, {"127.0.0.1", port}, http::verb::get, "/", "", std::chrono::seconds(5));
}

}  // namespace

TEST_CASE("a client that knows only the CA's pin connects, and nothing else will do") {
    pki_set pki;
    auto server_ctx = make_server_context(pki.chain_pem, pki.server_key_pem, pki.ca_pem());
    echo_server server(server_ctx);

    auto pinned = client_tls::pinned(spki_pin(*pki.ca));
    CHECK(get(pinned->context(), server.port()).body == "none");

    pki_set other;
    auto wrong_pin = client_tls::pinned(spki_pin(*other.ca));
    CHECK_THROWS_WITH(get(wrong_pin->context(), server.port()), Catch::Contains("certificate verify failed"));
}

TEST_CASE("a kept connection that could not be opened is opened afresh by the next call") {
    // graft-agent and graft-fleet keep one connection and call again after a failure (a coordinator restarting, or
    // refusing connections under load): the failed call must leave nothing half-made behind.
    pki_set pki;
    auto server_ctx = make_server_context(pki.chain_pem, pki.server_key_pem, pki.ca_pem());
    auto pinned = client_tls::pinned(spki_pin(*pki.ca));
    unsigned short port = 0;
    {
        net::io_context probe;
        net::ip::tcp::acceptor free_port(probe, {net::ip::make_address("127.0.0.1"), 0});
        port = free_port.local_endpoint().port();
    }  // closed: nothing listens on the port now
    net::io_context io;
    https_connection connection(pinned->context(), {"127.0.0.1", std::to_string(port)});
    auto call = [&] {
        auto answer = net::co_spawn(io, connection.call(http::verb::get, "/", "", std::chrono::seconds(5)), net::use_future);
        io.restart();
        io.run();
        return answer.get();
    };
    CHECK_THROWS_WITH(call(), Catch::Contains("refused"));
    CHECK_THROWS_WITH(call(), Catch::Contains("refused"));
    echo_server server(server_ctx, port);
    CHECK(call().body == "none");
    CHECK(call().body == "none");
}

TEST_CASE("a pinned client still checks that the server certificate names the host it dialled") {
    pki_set pki("127.0.0.2");  // a certificate for another address, from the right CA
    auto server_ctx = make_server_context(pki.chain_pem, pki.server_key_pem, pki.ca_pem());
    echo_server server(server_ctx);
    auto pinned = client_tls::pinned(spki_pin(*pki.ca));
    CHECK_THROWS_WITH(get(pinned->context(), server.port()), Catch::Contains("certificate verify failed"));
}

TEST_CASE("a client presents its certificate over mutual TLS") {
    pki_set pki;
    auto server_ctx = make_server_context(pki.chain_pem, pki.server_key_pem, pki.ca_pem());
    echo_server server(server_ctx);
    auto key = generate_p256_key();
    certificate_profile p;
    p.common_name = "node-1";
    p.use = certificate_use::client;
    auto cert = sign_certificate(pki.ca.get(), *pki.ca_key, *key, p);
    auto client = client_tls::trusting(pki.ca_pem());
    client->use_identity(certificate_pem(*cert), private_key_pem(*key));
    CHECK(get(client->context(), server.port()).body == "node-1");
}

TEST_CASE("the policy allows TLS 1.3 only") {
    ssl::context ctx(ssl::context::tls_client);
    apply_tls_policy(ctx);
    CHECK(SSL_CTX_get_min_proto_version(ctx.native_handle()) == TLS1_3_VERSION);
    CHECK(SSL_CTX_get_max_proto_version(ctx.native_handle()) == TLS1_3_VERSION);
}

TEST_CASE("coordinator URLs are parsed into host and port, with errors that say what is wrong") {
    auto ep = parse_https_url("https://192.168.1.10:8443");
    CHECK(ep.host == "192.168.1.10");
    CHECK(ep.port == "8443");
    CHECK(parse_https_url("https://[fd00::1]:8443/").host == "fd00::1");
    CHECK(parse_https_url("https://coordinator.lan").port == "443");
    CHECK_THROWS_WITH(parse_https_url("http://x:1"), Catch::Contains("not an https:// URL"));
    CHECK_THROWS_WITH(parse_https_url("https://x:1/v1"), Catch::Contains("has a path"));
    CHECK_THROWS_WITH(parse_https_url("https://x:port"), Catch::Contains("not a number"));
}
