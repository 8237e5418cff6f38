#include "coordinator/http/server.hpp"

#include "coordinator/status/metrics.hpp"

#include "coordinator/http/listing.hpp"

#include "proto/log.hpp"
#include "proto/pki.hpp"
#include "proto/version.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>

#include <array>
#include <memory>
#include <optional>
#include <variant>

namespace graft::coordinator {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
constexpr auto as_tuple_awaitable = net::as_tuple(net::use_awaitable);

namespace {

// The node a verified client certificate speaks for, and the certificate's serial. OpenSSL has already checked the
// chain against graft's CA and the clientAuth purpose during the handshake; a certificate that failed never gets this
// far. A resumed session brings the certificate of the handshake it began with, which may have expired since: its
// validity is checked again here, and the registry's word on its serial by the router on every request.
void identify_client(SSL* ssl, request_context& ctx) {
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (!peer || SSL_get_verify_result(ssl) != X509_V_OK) return;
    if (X509_cmp_current_time(X509_get0_notAfter(peer)) <= 0 || X509_cmp_current_time(X509_get0_notBefore(peer)) >= 0) {
        ctx.certificate_problem = "the client certificate (serial " + proto::serial_hex(*peer) +
                                  ") is outside its validity period; renew it, or enroll again";
        return;
    }
    std::string name = proto::subject_common_name(*peer);
    if (name.empty()) return;
    const std::string role = proto::subject_organization(*peer);
    if (role == proto::certificate_roles::node) ctx.client_node = std::move(name);
    else if (role == proto::certificate_roles::operator_) ctx.client_operator = std::move(name);
    else return;
    ctx.client_serial = proto::serial_hex(*peer);
}

const std::string server_name = std::string("graft-coordinator/") + proto::graft_version;

// GET /v1/nodes, with or without a query.
bool is_listing(const request& req) {
    std::string_view target = req.target();
    return req.method() == http::verb::get && target.starts_with("/v1/nodes") && (target.size() == 9 || target[9] == '?');
}

bool is_quiet_close(const boost::system::error_code& ec) {
    return ec == http::error::end_of_stream || ec == net::ssl::error::stream_truncated || ec == net::error::eof ||
           ec == net::error::connection_reset || ec == beast::error::timeout || ec == net::error::operation_aborted;
}

// The parser refused what the client sent (as opposed to the connection ending or timing out).
bool is_malformed_request(const boost::system::error_code& ec) {
    return ec && ec.category() == make_error_code(http::error::bad_target).category() &&
           ec != http::error::end_of_stream && ec != http::error::partial_message && ec != http::error::need_more &&
           ec != http::error::need_buffer;
}

}  // namespace

static std::vector<std::unique_ptr<net::io_context>> make_contexts(std::size_t wanted) {
    std::size_t n = wanted ? wanted : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::unique_ptr<net::io_context>> out;
    // One thread runs each: the hint spares Asio the locking a shared io_context needs.
    for (std::size_t i = 0; i < n; ++i) out.push_back(std::make_unique<net::io_context>(1));
    return out;
}

https_server::https_server(net::ssl::context& tls, const tcp::endpoint& listen, coordinator_state& state,
                           server_options options)
    : contexts_(make_contexts(options.network_threads)), tls_(tls), acceptor_(*contexts_.front()), state_(state),
      handlers_(options.handler_threads), timeouts_(options.timeouts), limits_(options.limits) {
    acceptor_.open(listen.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(listen);
    acceptor_.listen(net::socket_base::max_listen_connections);
    local_ = acceptor_.local_endpoint();
}

https_server::~https_server() {
    stop();
    // The network threads first, so no new work reaches the handlers; then the handlers finish what they hold (the
    // requests they read live in coroutine frames the io_contexts own, destroyed last).
    for (auto& io : contexts_) io->stop();
    for (auto& t : threads_) t.join();
    handlers_.join();
}

void https_server::start() {
    net::co_spawn(*contexts_.front(), accept_loop(), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            proto::log_error(std::string("the accept loop stopped: ") + ex.what());
        }
    });
    for (auto& io : contexts_)
        threads_.emplace_back([&io = *io] {
            auto guard = net::make_work_guard(io);
            io.run();
        });
}

void https_server::stop() {
    net::post(*contexts_.front(), [this] {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
    });
}

net::awaitable<void> https_server::accept_loop() {
    for (;;) {
        // At the cap, stop accepting: the kernel's backlog holds new connections until a slot frees.
        while (connections_.full() && acceptor_.is_open()) {
            net::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(10));
            co_await pause.async_wait(as_tuple_awaitable);
        }
        // Each connection lives on the next network thread in turn.
        auto& io = *contexts_[next_context_++ % contexts_.size()];
        auto [ec, socket] = co_await acceptor_.async_accept(io, as_tuple_awaitable);
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) co_return;
        if (ec) {
            // Out of descriptors, say: wait a moment rather than spin.
            proto::log_warning("accept failed: " + ec.message());
            net::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(as_tuple_awaitable);
            continue;
        }
        boost::system::error_code peer_ec;
        std::string address = socket.remote_endpoint(peer_ec).address().to_string();
        if (peer_ec) continue;  // gone already
        // Answers go out at once: with Nagle's algorithm, a response written in two segments waited for the
        // client's delayed ACK, some 40 ms on every request.
        socket.set_option(tcp::no_delay(true), peer_ec);
        if (!connections_.open(address)) {
            // That address holds its share already: closed before any TLS, so it costs nobody else anything.
            proto::log(proto::log_level::debug, "closed a connection from " + address + ": it already holds " +
                                                    std::to_string(limits_.max_per_address) + " connections");
            socket.close(peer_ec);
            continue;
        }
        auto executor = socket.get_executor();
        net::co_spawn(executor, session(std::move(socket), address), [this, address](std::exception_ptr e) {
            connections_.close(address);
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                proto::log_warning(std::string("a connection ended with an error: ") + ex.what());
            }
        });
    }
}

// A lingering close (RFC 9112, section 9.6): after answering a request whose body we did not read, read and discard
// what the client is still sending before closing. Closing with unread data makes the kernel reset the connection,
// and the reset can reach the client before our answer does. Bounded, so a client cannot hold the connection open.
net::awaitable<void> https_server::drain(stream_type& stream) {
    constexpr std::size_t max_bytes = 8 * 1024 * 1024;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::array<char, 16 * 1024> scratch;
    for (std::size_t total = 0; total < max_bytes && std::chrono::steady_clock::now() < deadline;) {
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
        auto [ec, n] = co_await stream.async_read_some(net::buffer(scratch), as_tuple_awaitable);
        if (ec) co_return;
        total += n;
    }
}

net::awaitable<void> https_server::session(tcp::socket socket, std::string address) {
    boost::system::error_code ec;
    request_context ctx;
    ctx.remote_address = std::move(address);
    const auto handshake_deadline = std::chrono::steady_clock::now() + timeouts_.handshake;

    // Until its first bytes arrive a connection holds no handshake slot and no TLS state: a socket and this frame.
    {
        // The timer's handler may run after the wait is over (both are queued on this connection's strand); the flag
        // keeps it from touching a socket that has moved on by then.
        auto waiting = std::make_shared<bool>(true);
        net::steady_timer deadline(socket.get_executor(), handshake_deadline);
        deadline.async_wait([&socket, waiting](const boost::system::error_code& e) {
            boost::system::error_code ignored;
            if (!e && *waiting) socket.cancel(ignored);
        });
        std::tie(ec) = co_await socket.async_wait(tcp::socket::wait_read, as_tuple_awaitable);
        *waiting = false;
        deadline.cancel();
        if (ec) co_return;
    }
    // Then it waits its turn for the CPU-heavy handshake. Its client is there and waiting, so it may wait longer than
    // an idle connection may: a crowd is served in turn rather than reset.
    const auto slot_deadline = std::chrono::steady_clock::now() + std::max(timeouts_.handshake, std::chrono::seconds(60));
    while (handshakes_.load() >= limits_.max_handshakes) {
        if (std::chrono::steady_clock::now() >= slot_deadline) co_return;
        net::steady_timer pause(socket.get_executor(), std::chrono::milliseconds(5));
        co_await pause.async_wait(as_tuple_awaitable);
    }
    struct slot {
        std::atomic<std::size_t>& count;
        explicit slot(std::atomic<std::size_t>& c) : count(c) { ++count; }
        ~slot() { --count; }
    };
    std::optional<slot> handshaking(std::in_place, handshakes_);
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), tls_);

    beast::get_lowest_layer(stream).expires_after(timeouts_.handshake);
    std::tie(ec) = co_await stream.async_handshake(net::ssl::stream_base::server, as_tuple_awaitable);
    handshaking.reset();
    if (ec) {
        proto::log(proto::log_level::debug, "TLS handshake from " + ctx.remote_address + " failed: " + ec.message());
        co_return;
    }
    identify_client(stream.native_handle(), ctx);
    const std::optional<std::string> certificate_operator = ctx.client_operator;

    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(proto::max_body_bytes);

        beast::get_lowest_layer(stream).expires_after(first ? timeouts_.header : timeouts_.idle);
        first = false;
        std::size_t bytes = 0;
        std::tie(ec, bytes) = co_await http::async_read_header(stream, buffer, parser, as_tuple_awaitable);
        const auto started = std::chrono::steady_clock::now();
        std::optional<endpoint> counted;  // what the request was for, once it has been read
        if (!ec) counted = endpoint_of(parser.get().method_string(), parser.get().target());
        auto count = [&](unsigned status) {
            if (counted) metrics().request(*counted, status, std::chrono::steady_clock::now() - started);
        };
        response res;
        bool keep_alive = false;
        bool body_unread = false;  // we answer before the client has sent all it means to
        if (!ec) {
            const auto announced = parser.content_length();
            if (parser.get()[http::field::expect] == "100-continue" && !(announced && *announced > proto::max_body_bytes)) {
                // curl asks before sending a body over 1 KiB; answer at once instead of making it wait a second.
                http::response<http::empty_body> go_on{http::status::continue_, 11};
                co_await http::async_write(stream, go_on, as_tuple_awaitable);
            }
            if (!parser.is_done()) {  // a body to read (a GET has none)
                beast::get_lowest_layer(stream).expires_after(timeouts_.body);
                std::tie(ec, bytes) = co_await http::async_read(stream, buffer, parser, as_tuple_awaitable);
            }
        }
        // A browser signed in to the dashboard reads as its operator; a certificate's word comes first.
        if (!ec && !certificate_operator && state_.sessions)
            ctx.client_operator = state_.sessions->operator_of(parser.get()[http::field::cookie],
                                                               proto::to_unix(proto::clock::now()));
        // Any request a node's agent makes says it is alive: the last-seen time operators see.
        if (!ec && ctx.client_node && state_.snapshot)
            state_.snapshot->seen(*ctx.client_node, proto::to_unix(proto::clock::now()));
        if (ec == http::error::body_limit) {
            body_unread = true;
            res = error_response(http::status::payload_too_large, "payload_too_large",
                                 "request bodies are limited to " + std::to_string(proto::max_body_bytes) + " bytes");
        } else if (ec == http::error::header_limit) {
            body_unread = true;
            res = error_response(http::status::request_header_fields_too_large, "header_too_large",
                                 "request headers are limited to 16 KiB");
        } else if (is_malformed_request(ec)) {
            body_unread = true;
            res = error_response(http::status::bad_request, "malformed_http", "the request is not valid HTTP/1.1: " + ec.message());
        } else if (ec) {
            if (!is_quiet_close(ec) && ec != http::error::partial_message)
                proto::log(proto::log_level::debug, "reading a request from " + ctx.remote_address + ": " + ec.message());
            break;
        } else if (auto refusal = refuse_unless_operator(parser.get(), ctx)) {
            keep_alive = parser.get().keep_alive();
            res = std::move(*refusal);
        } else if (state_.snapshot && is_watch(parser.get())) {
            state_.snapshot->reload_if_changed(false);
            co_await watch(stream, parser.get());
            break;
        } else if (answers_at_once(parser.get(), state_)) {
            const auto& req = parser.get();
            keep_alive = req.keep_alive();
            if (is_listing(req)) {
                // An operator's command may have changed the registry; the snapshot looks before it answers.
                state_.snapshot->reload_if_changed(false);
                if (req.version() == 11 && std::holds_alternative<list_query>(parse_list_query(req))) {
                    const bool written = co_await stream_listing(stream, req, keep_alive);
                    count(200);
                    if (!written || !keep_alive) break;
                    continue;
                }
            } else if (req.target().starts_with("/v1/nodes/")) {
                state_.snapshot->reload_if_changed(false);
            }
            res = handle(req, ctx, state_);
        } else if (auto quick = unchanged_report(parser.get(), ctx, state_)) {
            keep_alive = parser.get().keep_alive();
            res = std::move(*quick);
        } else if (queued_requests_.load() >= limits_.max_queued_requests) {
            // Every handler is busy and the queue is full: asking again shortly is better than waiting here.
            keep_alive = false;
            res = error_response(http::status::service_unavailable, "busy",
                                 "the coordinator is busy with other nodes; try again after the Retry-After seconds");
            res.set(http::field::retry_after, "2");
        } else {
            const auto& req = parser.get();
            keep_alive = req.keep_alive();
            // Off the network thread: handle() may block on the registry or a join program.
            ++queued_requests_;
            res = co_await net::co_spawn(handlers_, [&]() -> net::awaitable<response> { co_return handle(req, ctx, state_); },
                                         net::use_awaitable);
            --queued_requests_;
        }
        res.keep_alive(keep_alive);
        res.set(http::field::server, server_name);
        res.prepare_payload();
        beast::get_lowest_layer(stream).expires_after(timeouts_.body);
        std::tie(ec, bytes) = co_await http::async_write(stream, res, as_tuple_awaitable);
        count(res.result_int());
        if (!ec && body_unread) co_await drain(stream);
        if (ec || !keep_alive) break;
    }

    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(as_tuple_awaitable);
}

net::awaitable<bool> https_server::write_chunked_header(stream_type& stream, const request& req,
                                                       std::string_view content_type, bool keep_alive) {
    http::response<http::empty_body> head{http::status::ok, req.version()};
    head.set(http::field::server, server_name);
    head.set(http::field::content_type, content_type);
    head.set(http::field::cache_control, "no-store");
    head.keep_alive(keep_alive);
    head.chunked(true);
    http::response_serializer<http::empty_body> serializer{head};
    beast::get_lowest_layer(stream).expires_after(timeouts_.body);
    auto [ec, n] = co_await http::async_write_header(stream, serializer, as_tuple_awaitable);
    co_return !ec;
}

net::awaitable<bool> https_server::stream_listing(stream_type& stream, const request& req, bool keep_alive) {
    listing_writer writer(std::get<list_query>(parse_list_query(req)), *state_.snapshot, state_.cluster);
    if (!co_await write_chunked_header(stream, req, "application/json", keep_alive)) co_return false;
    boost::system::error_code ec;
    std::size_t n = 0;
    while (auto piece = writer.next()) {
        if (piece->empty()) continue;
        beast::get_lowest_layer(stream).expires_after(timeouts_.body);
        std::tie(ec, n) = co_await net::async_write(stream, http::make_chunk(net::buffer(*piece)), as_tuple_awaitable);
        if (ec) co_return false;
    }
    std::tie(ec, n) = co_await net::async_write(stream, http::make_chunk_last(), as_tuple_awaitable);
    co_return !ec;
}

net::awaitable<void> https_server::watch(stream_type& stream, const request& req) {
    const auto query = std::get<list_query>(parse_list_query(req));
    const node_snapshot& snapshot = *state_.snapshot;
    if (!co_await write_chunked_header(stream, req, "text/event-stream", false)) co_return;
    auto send = [&](const std::string& text) -> net::awaitable<bool> {
        beast::get_lowest_layer(stream).expires_after(timeouts_.body);
        auto [e, written] = co_await net::async_write(stream, http::make_chunk(net::buffer(text)), as_tuple_awaitable);
        co_return !e;
    };

    // A change wakes this watcher by cancelling its timer, posted to its own thread; the timer is shared so that a
    // wake-up still in flight when the watch ends finds it alive.
    auto executor = co_await net::this_coro::executor;
    auto wake = std::make_shared<net::steady_timer>(executor);
    auto subscription = state_.snapshot->subscribe([executor, weak = std::weak_ptr(wake)] {
        net::post(executor, [weak] {
            if (auto timer = weak.lock()) timer->cancel();
        });
    });

    std::uint64_t at = 0;
    if (query.since) {
        at = *query.since;
    } else {
        std::string after;
        for (;;) {
            std::string events = initial_events(snapshot, query, after, at);
            if (events.empty()) break;
            if (!co_await send(events)) co_return;
        }
    }
    // Says the watch is live, and flushes the headers through any proxy.
    if (!co_await send(": watching from " + std::to_string(at) + "\n\n")) co_return;
    for (;;) {
        auto changes = snapshot.changes_since(at);
        if (!changes) {
            co_await send("event: ERROR\ndata: " +
                          proto::error_body{"expired", "the changes after " + std::to_string(at) +
                                                           " are no longer kept; list again and watch from its "
                                                           "metadata.resourceVersion"}
                              .to_json()
                              .dump() +
                          "\n\n");
            break;
        }
        std::string events;
        for (const auto& change : *changes) {
            events += watch_event(change, query);
            at = change.version;
        }
        if (!events.empty() && !co_await send(events)) break;
        // Wait for the next change; a comment every 15 s finds a client that went away.
        wake->expires_after(std::chrono::seconds(15));
        auto [waited] = co_await wake->async_wait(as_tuple_awaitable);
        if (!waited && !co_await send(": keep-alive\n\n")) break;
    }
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await net::async_write(stream, http::make_chunk_last(), as_tuple_awaitable);
}

}  // namespace graft::coordinator
