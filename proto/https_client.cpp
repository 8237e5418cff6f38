#include "proto/https_client.hpp"

#include "proto/tls.hpp"
#include "proto/version.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>

#include <functional>
#include <optional>
#include <stdexcept>

namespace graft::proto {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

void verify_server_name(SSL* ssl, const std::string& host) {
    boost::system::error_code ec;
    net::ip::make_address(host, ec);
    if (!ec) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1)
            throw std::runtime_error("cannot verify against address " + host);
    } else {
        if (SSL_set1_host(ssl, host.c_str()) != 1 || SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)
            throw std::runtime_error("cannot verify against host " + host);
    }
}

https_endpoint parse_https_url(std::string_view url) {
    constexpr std::string_view scheme = "https://";
    if (url.substr(0, scheme.size()) != scheme)
        throw std::invalid_argument("'" + std::string(url) + "' is not an https:// URL");
    std::string_view rest = url.substr(scheme.size());
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find('/') != std::string_view::npos)
        throw std::invalid_argument("'" + std::string(url) + "' has a path; give only https://HOST:PORT");
    https_endpoint ep;
    std::string_view port;
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string_view::npos) throw std::invalid_argument("'" + std::string(url) + "' has an unclosed [");
        ep.host = std::string(rest.substr(1, close - 1));
        rest.remove_prefix(close + 1);
        if (!rest.empty() && rest.front() == ':') port = rest.substr(1);
        else if (!rest.empty()) throw std::invalid_argument("'" + std::string(url) + "' is malformed after ]");
    } else {
        auto colon = rest.rfind(':');
        ep.host = std::string(rest.substr(0, colon));
        if (colon != std::string_view::npos) port = rest.substr(colon + 1);
    }
    if (ep.host.empty()) throw std::invalid_argument("'" + std::string(url) + "' has no host");
    ep.port = port.empty() ? "443" : std::string(port);
    for (char c : ep.port)
        if (c < '0' || c > '9') throw std::invalid_argument("'" + std::string(url) + "' has a port that is not a number");
    return ep;
}

namespace {

using stream_type = beast::ssl_stream<beast::tcp_stream>;

// A TCP connection and TLS handshake to the endpoint, offering the context's last session with it.
net::awaitable<std::unique_ptr<stream_type>> open(net::ssl::context& ctx, const https_endpoint& endpoint,
                                                   const std::string& peer, std::chrono::seconds timeout) {
    auto executor = co_await net::this_coro::executor;
    net::ip::tcp::resolver resolver(executor);
    auto stream = std::make_unique<stream_type>(executor, ctx);
    verify_server_name(stream->native_handle(), endpoint.host);

    beast::get_lowest_layer(*stream).expires_after(timeout);
    auto results = co_await resolver.async_resolve(endpoint.host, endpoint.port, net::use_awaitable);
    if (endpoint.source.empty()) {
        co_await beast::get_lowest_layer(*stream).async_connect(results, net::use_awaitable);
    } else {
        auto& socket = beast::get_lowest_layer(*stream).socket();
        const net::ip::tcp::endpoint remote = results.begin()->endpoint();
        socket.open(remote.protocol());
        socket.bind({net::ip::make_address(endpoint.source), 0});
        co_await beast::get_lowest_layer(*stream).async_connect(remote, net::use_awaitable);
    }
    // Requests go out at once rather than waiting for an ACK of the segment before (Nagle).
    beast::get_lowest_layer(*stream).socket().set_option(net::ip::tcp::no_delay(true));
    resume_session(stream->native_handle(), peer);
    co_await stream->async_handshake(net::ssl::stream_base::client, net::use_awaitable);
    co_return stream;
}

// One request and its response on an open connection. `keep_alive`: whether we ask to keep it; the result says
// whether the server agreed.
net::awaitable<std::pair<http_result, bool>> exchange(stream_type& stream, const https_endpoint& endpoint, http::verb verb,
                                                      const std::string& target, const std::string& body,
                                                      std::chrono::seconds timeout, const http_headers& headers,
                                                      bool keep_alive) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, endpoint.host);
    req.set(http::field::user_agent, std::string("graft/") + graft_version);
    req.keep_alive(keep_alive);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(timeout);
    co_await http::async_write(stream, req, net::use_awaitable);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);  // a status listing of a large fleet is bigger than a request may be
    co_await http::async_read(stream, buffer, parser, net::use_awaitable);
    auto res = parser.release();

    http_result out;
    out.status = res.result_int();
    out.body = std::move(res.body());
    if (auto it = res.find(http::field::retry_after); it != res.end()) out.retry_after = std::string(it->value());
    co_return std::pair{std::move(out), keep_alive && res.keep_alive()};
}

// A polite close; a server that has already gone is not an error for a request that completed.
net::awaitable<void> close(stream_type& stream) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(net::as_tuple(net::use_awaitable));
}

}  // namespace

net::awaitable<http_result> https_call(net::ssl::context& ctx, https_endpoint endpoint, http::verb verb,
                                       std::string target, std::string body, std::chrono::seconds timeout,
                                       http_headers headers) {
    const std::string peer = endpoint.host + ":" + endpoint.port;
    auto stream = co_await open(ctx, endpoint, peer, timeout);
    auto [result, kept] = co_await exchange(*stream, endpoint, verb, target, body, timeout, headers, false);
    co_await close(*stream);
    co_return result;
}

struct https_connection::kept {
    std::unique_ptr<stream_type> stream;
    std::chrono::steady_clock::time_point last_answer;
};

https_connection::https_connection(net::ssl::context& ctx, https_endpoint endpoint, std::chrono::seconds reuse_within)
    : ctx_(ctx), endpoint_(std::move(endpoint)), peer_(endpoint_.host + ":" + endpoint_.port), reuse_within_(reuse_within) {}

https_connection::~https_connection() = default;

net::awaitable<http_result> https_connection::call(http::verb verb, std::string target, std::string body,
                                                   std::chrono::seconds timeout, http_headers headers) {
    // A connection idle for longer may be closing on the server's side just as the request goes out; such a one is
    // closed rather than reused.
    if (kept_ && std::chrono::steady_clock::now() - kept_->last_answer > reuse_within_) {
        co_await close(*kept_->stream);
        kept_.reset();
    }
    if (kept_) {
        // The server may still have closed it (it restarted, say): then, once, a fresh connection.
        std::optional<std::pair<http_result, bool>> answer;
        try {
            answer = co_await exchange(*kept_->stream, endpoint_, verb, target, body, timeout, headers, true);
        } catch (const boost::system::system_error&) {
        }
        if (answer) {
            co_return co_await finish(std::move(*answer));
        }
        kept_.reset();
    }
    // Kept only once open: a connection that failed to open leaves nothing behind for the next call to trip on.
    auto fresh = co_await open(ctx_, endpoint_, peer_, timeout);
    kept_ = std::make_unique<kept>();
    kept_->stream = std::move(fresh);
    kept_->last_answer = std::chrono::steady_clock::now();
    std::optional<std::pair<http_result, bool>> answer;
    try {
        answer = co_await exchange(*kept_->stream, endpoint_, verb, target, body, timeout, headers, true);
    } catch (...) {
        kept_.reset();  // half a request went out or half an answer came back: the connection is no use
        throw;
    }
    co_return co_await finish(std::move(*answer));
}

net::awaitable<http_result> https_connection::finish(std::pair<http_result, bool> answer) {
    if (answer.second) {
        kept_->last_answer = std::chrono::steady_clock::now();
    } else {
        co_await close(*kept_->stream);
        kept_.reset();
    }
    co_return std::move(answer.first);
}

net::awaitable<unsigned> https_stream(net::ssl::context& ctx, https_endpoint endpoint, std::string target,
                                      std::chrono::seconds idle, std::function<bool(std::string_view)> on_data) {
    const std::string peer = endpoint.host + ":" + endpoint.port;
    auto stream = co_await open(ctx, endpoint, peer, idle);
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, endpoint.host);
    req.set(http::field::user_agent, std::string("graft/") + graft_version);
    req.set(http::field::accept, "text/event-stream");
    beast::get_lowest_layer(*stream).expires_after(idle);
    co_await http::async_write(*stream, req, net::use_awaitable);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    bool more = true;
    // A chunk's bytes go to the caller as they come, rather than into the body.
    auto on_chunk = [&](std::uint64_t, std::string_view data, boost::system::error_code&) -> std::size_t {
        if (more) more = on_data(data);
        return data.size();
    };
    parser.on_chunk_body(on_chunk);
    beast::get_lowest_layer(*stream).expires_after(idle);
    co_await http::async_read_header(*stream, buffer, parser, net::use_awaitable);
    const unsigned status = parser.get().result_int();
    if (status != 200 || !parser.get().chunked()) {
        co_await http::async_read(*stream, buffer, parser, net::use_awaitable);
        on_data(parser.get().body());
        co_return status;
    }
    while (more && !parser.is_done()) {
        beast::get_lowest_layer(*stream).expires_after(idle);
        co_await http::async_read_some(*stream, buffer, parser, net::use_awaitable);
    }
    co_return status;
}

http_result https_call_sync(net::ssl::context& ctx, const https_endpoint& endpoint, http::verb verb,
                            const std::string& target, const std::string& body, std::chrono::seconds timeout,
                            const http_headers& headers) {
    net::io_context io;
    auto result = net::co_spawn(io, https_call(ctx, endpoint, verb, target, body, timeout, headers), net::use_future);
    io.run();
    return result.get();
}

}  // namespace graft::proto
