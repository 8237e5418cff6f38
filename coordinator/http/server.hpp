#pragma once
// The coordinator's HTTPS listener: Boost.Beast over Asio C++20 coroutines, TLS 1.3 only, one strand per
// connection, a deadline on the handshake, on the request header and on the body, bodies capped at 64 KiB, and the
// admission limits of admission.hpp on connections, handshakes and queued requests.
// Requests are handled by handle() on a small thread pool, so a join backend that runs a program never stalls
// the network thread. Create, start() and stop() from the thread that runs the io_context.

#include "coordinator/http/admission.hpp"
#include "coordinator/http/router.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <atomic>
#include <chrono>
#include <string>

namespace graft::coordinator {

struct server_timeouts {
    std::chrono::seconds handshake{10};
    std::chrono::seconds header{10};
    std::chrono::seconds body{30};
    std::chrono::seconds idle{60};  // between requests on a kept-alive connection
};

class https_server {
public:
    https_server(boost::asio::io_context& io, boost::asio::ssl::context& tls, const boost::asio::ip::tcp::endpoint& listen,
                 coordinator_state& state, std::size_t handler_threads = 4, server_timeouts timeouts = {},
                 admission_limits limits = {});
    ~https_server();

    boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
    void start();
    // Stops accepting; connections in flight finish their current request.
    void stop();

private:
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket, std::string address);
    boost::asio::awaitable<void> drain(boost::beast::ssl_stream<boost::beast::tcp_stream>& stream);

    boost::asio::io_context& io_;
    boost::asio::ssl::context& tls_;
    boost::asio::ip::tcp::acceptor acceptor_;
    coordinator_state& state_;
    boost::asio::thread_pool handlers_;
    server_timeouts timeouts_;
    admission_limits limits_;
    connection_counter connections_{limits_};
    std::atomic<std::size_t> handshakes_{0};
    std::atomic<std::size_t> queued_requests_{0};
};

}  // namespace graft::coordinator
