#include "agent/health.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace graft::agent {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

net::awaitable<std::string> kubelet_health(std::string url) {
    constexpr std::string_view scheme = "http://";
    if (!url.starts_with(scheme)) co_return "the health URL " + url + " is not http://HOST:PORT/PATH";
    std::string rest = url.substr(scheme.size());
    const auto slash = rest.find('/');
    const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
    const std::string authority = rest.substr(0, slash);
    const auto colon = authority.rfind(':');
    const std::string host = colon == std::string::npos ? authority : authority.substr(0, colon);
    const std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);

    auto executor = co_await net::this_coro::executor;
    net::ip::tcp::resolver resolver(executor);
    beast::tcp_stream stream(executor);
    stream.expires_after(std::chrono::seconds(5));
    auto [rec, endpoints] = co_await resolver.async_resolve(host, port, net::as_tuple(net::use_awaitable));
    if (rec) co_return url + ": " + rec.message();
    auto [cec, connected] = co_await stream.async_connect(endpoints, net::as_tuple(net::use_awaitable));
    if (cec) co_return url + ": " + cec.message();
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host);
    req.set(http::field::connection, "close");
    auto [wec, written] = co_await http::async_write(stream, req, net::as_tuple(net::use_awaitable));
    if (wec) co_return url + ": " + wec.message();
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    auto [ec, read] = co_await http::async_read(stream, buffer, res, net::as_tuple(net::use_awaitable));
    if (ec) co_return url + ": " + ec.message();
    if (res.result_int() != 200) {
        std::string body = res.body().substr(0, 200);
        while (!body.empty() && body.back() == '\n') body.pop_back();
        co_return url + " answered HTTP " + std::to_string(res.result_int()) + (body.empty() ? "" : ": " + body);
    }
    co_return std::string();
}

}  // namespace graft::agent
