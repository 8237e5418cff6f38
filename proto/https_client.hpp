#pragma once
// HTTPS requests with a deadline over the whole exchange: one per connection (https_call), or a series over one
// kept connection (https_connection). Used by the agent, by the
// coordinator's `status` command and by the fleet benchmark.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>
#include <openssl/ssl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace graft::proto {

struct https_endpoint {
    std::string host;  // a DNS name or an IP literal; the server certificate must name it
    std::string port;
    // The local address to connect from; empty: the system's choice. The fleet benchmark spreads simulated nodes
    // over loopback addresses with it, as a real fleet comes from many.
    std::string source = {};
};

// Parses "https://HOST:PORT" (an IPv6 literal in brackets); throws std::invalid_argument naming what is wrong.
https_endpoint parse_https_url(std::string_view url);

struct http_result {
    unsigned status = 0;
    std::string body;
    std::string retry_after;  // the Retry-After header, when the server sent one
};

using http_headers = std::vector<std::pair<std::string, std::string>>;

// Connection, TLS and protocol failures throw boost::system::system_error; any HTTP status is a result.
// `headers` are added to the request (an Authorization header, say); they are never logged.
boost::asio::awaitable<http_result> https_call(boost::asio::ssl::context& ctx, https_endpoint endpoint,
                                               boost::beast::http::verb verb, std::string target, std::string body,
                                               std::chrono::seconds timeout, http_headers headers = {});

// Calls to one server, over one connection kept between them: a call made within `reuse_within` of the last answer
// goes over the same connection, with no handshake; later, or once the server has closed it, over a fresh one (which
// resumes the TLS session when it can). Errors as https_call. Use it from one executor, one call at a time, and
// destroy it before that executor's io_context (the kept connection's timers belong to it).
class https_connection {
public:
    https_connection(boost::asio::ssl::context& ctx, https_endpoint endpoint,
                     std::chrono::seconds reuse_within = std::chrono::seconds(5));
    ~https_connection();
    https_connection(const https_connection&) = delete;
    https_connection& operator=(const https_connection&) = delete;

    boost::asio::awaitable<http_result> call(boost::beast::http::verb verb, std::string target, std::string body,
                                             std::chrono::seconds timeout, http_headers headers = {});

private:
    struct kept;
    boost::asio::awaitable<http_result> finish(std::pair<http_result, bool> answer);

    boost::asio::ssl::context& ctx_;
    https_endpoint endpoint_;
    std::string peer_;
    std::chrono::seconds reuse_within_;
    std::unique_ptr<kept> kept_;
};

// A GET whose answer is a stream (server-sent events): each piece of a chunked 200 goes to `on_data` as it arrives,
// until `on_data` returns false or the server ends it; any other answer goes to `on_data` whole. `idle` bounds the
// wait for each piece (the server's keep-alive comments come more often). Returns the HTTP status; errors as
// https_call.
boost::asio::awaitable<unsigned> https_stream(boost::asio::ssl::context& ctx, https_endpoint endpoint, std::string target,
                                              std::chrono::seconds idle, std::function<bool(std::string_view)> on_data);

// The same, on an io_context of its own, for command-line tools.
http_result https_call_sync(boost::asio::ssl::context& ctx, const https_endpoint& endpoint,
                            boost::beast::http::verb verb, const std::string& target, const std::string& body,
                            std::chrono::seconds timeout, const http_headers& headers = {});

// Makes the TLS stream check that the server's certificate names `host`: an IP SAN for an address literal,
// a DNS SAN (and SNI) for a name.
void verify_server_name(SSL* ssl, const std::string& host);

}  // namespace graft::proto
