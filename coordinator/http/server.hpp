#pragma once
// The coordinator's HTTPS listener: Boost.Beast over Asio C++20 coroutines, TLS 1.3 only, TCP_NODELAY, a deadline
// on the handshake, on the request header and on the body, bodies capped at 64 KiB, and the admission limits of
// admission.hpp on connections, handshakes and queued requests.
//
// The network work (accepting, TLS, HTTP) runs on one thread per core, each with an io_context of its own; a
// connection stays on the thread that accepted it, so it needs no strand. Requests answered from memory (health,
// the node snapshot) are handled right there; those that write the registry or run a join backend go to a small
// handler pool, so a program or an fsync never stalls a network thread. Watches are streamed from the snapshot.

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
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace graft::coordinator {

struct server_timeouts {
    std::chrono::seconds handshake{10};
    std::chrono::seconds header{10};
    std::chrono::seconds body{30};
    std::chrono::seconds idle{60};  // between requests on a kept-alive connection
};

struct server_options {
    std::size_t network_threads = 0;  // 0: one per core
    std::size_t handler_threads = 4;
    server_timeouts timeouts = {};
    admission_limits limits = {};
};

class https_server {
public:
    using stream_type = boost::beast::ssl_stream<boost::beast::tcp_stream>;

    https_server(boost::asio::ssl::context& tls, const boost::asio::ip::tcp::endpoint& listen, coordinator_state& state,
                 server_options options = {});
    // Stops the network threads, lets the handlers finish what they hold, and closes every connection.
    ~https_server();

    boost::asio::ip::tcp::endpoint local_endpoint() const { return local_; }
    std::size_t network_threads() const { return contexts_.size(); }
    // Starts accepting, on threads of the server's own.
    void start();
    // Stops accepting. Safe from any thread.
    void stop();

private:
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket, std::string address);
    boost::asio::awaitable<void> drain(stream_type& stream);
    // The header of a 200 whose body follows in chunks; false when the connection failed.
    boost::asio::awaitable<bool> write_chunked_header(stream_type& stream, const request& req,
                                                      std::string_view content_type, bool keep_alive);
    // Writes a listing as a chunked body, a piece at a time; false when the connection failed.
    boost::asio::awaitable<bool> stream_listing(stream_type& stream, const request& req, bool keep_alive);
    // Streams server-sent events of node changes until the client goes away.
    boost::asio::awaitable<void> watch(stream_type& stream, const request& req);

    // Declared first, destroyed last: the connections' coroutine frames live in them.
    std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
    std::vector<std::thread> threads_;
    boost::asio::ssl::context& tls_;
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::ip::tcp::endpoint local_;
    coordinator_state& state_;
    boost::asio::thread_pool handlers_;
    server_timeouts timeouts_;
    admission_limits limits_;
    connection_counter connections_{limits_};
    std::size_t next_context_ = 0;
    std::atomic<std::size_t> handshakes_{0};
    std::atomic<std::size_t> queued_requests_{0};
};

}  // namespace graft::coordinator
