#pragma once
// One HTTPS request per connection, with a deadline over the whole exchange. Used by the agent, by the
// coordinator's `status` command and by the fleet benchmark.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace graft::proto {

struct https_endpoint {
    std::string host;  // a DNS name or an IP literal; the server certificate must name it
    std::string port;
};

// Parses "https://HOST:PORT" (an IPv6 literal in brackets); throws std::invalid_argument naming what is wrong.
https_endpoint parse_https_url(std::string_view url);

struct http_result {
    unsigned status = 0;
    std::string body;
    std::string retry_after;  // the Retry-After header, when the server sent one
};

// Connection, TLS and protocol failures throw boost::system::system_error; any HTTP status is a result.
boost::asio::awaitable<http_result> https_call(boost::asio::ssl::context& ctx, https_endpoint endpoint,
                                               boost::beast::http::verb verb, std::string target, std::string body,
                                               std::chrono::seconds timeout);

// The same, on an io_context of its own, for command-line tools.
http_result https_call_sync(boost::asio::ssl::context& ctx, const https_endpoint& endpoint,
                            boost::beast::http::verb verb, const std::string& target, const std::string& body,
                            std::chrono::seconds timeout);

}  // namespace graft::proto
