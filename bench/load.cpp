// graft-load: a small HTTPS load generator for comparing the coordinator with another server (nginx) on the same
// certificates. Each of C connections loops for S seconds in one of three modes:
//   new        a fresh TCP connection and full TLS handshake for every request (as every agent call was)
//   resume     a fresh connection for every request, offering the session ticket of the one before
//   keepalive  one connection, requests one after another
// With --pids it reads the servers' CPU time from /proc before and after, and reports it per request.
// Prints one line of figures (see --help). bench/run-serve drives it; docs/benchmarks.md has the results.

#include "proto/cli.hpp"
#include "proto/crypto.hpp"
#include "proto/version.hpp"
#include "proto/files.hpp"
#include "proto/https_client.hpp"
#include "proto/messages.hpp"
#include "proto/pki.hpp"
#include "proto/tls.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <unistd.h>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace graft;
using steady = std::chrono::steady_clock;
constexpr auto as_tuple_awaitable = net::as_tuple(net::use_awaitable);

namespace {

struct totals {
    std::vector<double> latency_ms;
    long requests = 0, errors = 0, handshakes = 0, resumed = 0;
    std::string first_error;
};

struct settings {
    proto::https_endpoint endpoint;
    std::string mode, target, body;
    http::verb verb = http::verb::get;
    steady::time_point end;
};

void failed(totals& t, const std::string& what) {
    ++t.errors;
    if (t.first_error.empty()) t.first_error = what;
}

net::awaitable<void> connection(const settings& s, net::ssl::context& tls, totals& t) {
    auto executor = co_await net::this_coro::executor;
    const net::ip::tcp::endpoint remote(net::ip::make_address(s.endpoint.host),
                                        static_cast<unsigned short>(std::stoi(s.endpoint.port)));
    SSL_SESSION* session = nullptr;
    while (steady::now() < s.end) {
        beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
        auto start = steady::now();
        auto [ec] = co_await beast::get_lowest_layer(stream).async_connect(remote, as_tuple_awaitable);
        if (ec) {
            failed(t, "connect: " + ec.message());
            continue;
        }
        beast::get_lowest_layer(stream).socket().set_option(net::ip::tcp::no_delay(true));
        if (session) SSL_set_session(stream.native_handle(), session);
        std::tie(ec) = co_await stream.async_handshake(net::ssl::stream_base::client, as_tuple_awaitable);
        if (ec) {
            failed(t, "handshake: " + ec.message());
            continue;
        }
        ++t.handshakes;
        if (SSL_session_reused(stream.native_handle())) ++t.resumed;
        beast::flat_buffer buffer;
        const bool keep_alive = s.mode == "keepalive";
        do {
            http::request<http::string_body> req{s.verb, s.target, 11};
            req.set(http::field::host, s.endpoint.host);
            if (!s.body.empty()) req.set(http::field::content_type, "application/json");
            req.keep_alive(keep_alive);
            req.body() = s.body;
            req.prepare_payload();
            std::size_t n = 0;
            std::tie(ec, n) = co_await http::async_write(stream, req, as_tuple_awaitable);
            http::response<http::string_body> res;
            if (!ec) std::tie(ec, n) = co_await http::async_read(stream, buffer, res, as_tuple_awaitable);
            if (ec) {
                failed(t, "request: " + ec.message());
                break;
            }
            ++t.requests;
            if (res.result_int() != 200) failed(t, "HTTP " + std::to_string(res.result_int()) + ": " + res.body().substr(0, 200));
            t.latency_ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - start).count());
            start = steady::now();
        } while (keep_alive && steady::now() < s.end);
        if (s.mode == "resume") {
            // The ticket came after the handshake, read along with the response.
            SSL_SESSION_free(session);
            session = SSL_get1_session(stream.native_handle());
        }
        // A close_notify of our own: OpenSSL marks the session of a connection freed without one unresumable.
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
        co_await stream.async_shutdown(as_tuple_awaitable);
    }
    SSL_SESSION_free(session);
}

// User and system CPU seconds of the processes, from /proc/PID/stat.
double cpu_seconds(const std::vector<std::string>& pids) {
    double ticks = 0;
    for (const auto& pid : pids) {
        std::ifstream in("/proc/" + pid + "/stat");
        std::string stat((std::istreambuf_iterator<char>(in)), {});
        auto close = stat.rfind(')');
        if (close == std::string::npos) throw std::runtime_error("cannot read /proc/" + pid + "/stat");
        std::istringstream fields(stat.substr(close + 2));
        std::string f;
        std::vector<std::string> v;
        while (fields >> f) v.push_back(f);
        ticks += std::stod(v.at(11)) + std::stod(v.at(12));  // utime, stime (fields 14 and 15)
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5))];
}

std::vector<std::string> split(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        proto::cli_args args(std::vector<std::string>(argv + 1, argv + argc),
                             {"url", "path", "method", "body", "ca", "cert", "key", "mode", "connections", "seconds",
                              "pids", "label", "enroll", "out", "credentials"},
                             {"help"});
        if (args.has("help")) {
            std::cout << "usage: graft-load --url https://IP:PORT --ca CA [--cert C --key K | --credentials OPERATOR_JSON]\n"
                         "                  [--path /healthz]\n"
                         "                  [--method GET|POST] [--body JSON] [--mode new|resume|keepalive]\n"
                         "                  [--connections N] [--seconds S] [--pids P1,P2] [--label TEXT]\n"
                         "       graft-load --enroll GRAFT_JSON --out DIR\n"
                         "Prints: label mode connections requests/s p50-ms p99-ms server-CPU-µs-per-request resumed-% "
                         "errors.\n"
                         "--enroll makes a key, enrolls it with the coordinator GRAFT_JSON names and writes DIR/node.key, "
                         "DIR/node.crt and DIR/node.name, for the runs that need a node's certificate.\n";
            return 0;
        }
        if (auto boot_path = args.value("enroll")) {
            const auto boot = proto::parse_json(proto::read_file(*boot_path));
            const std::string out = args.required("out");
            auto key = proto::generate_p256_key();
            proto::enroll_request req;
            req.protocol_version = proto::protocol_version;
            req.enrollment_token = boot.at("enrollment_token");
            req.csr_pem = proto::make_csr_pem(*key, "load");
            req.facts.machine_id = proto::random_hex(16);
            req.facts.arch = "x86_64";
            req.facts.model = "graft-load";
            auto pinned = proto::client_tls::pinned(boot.at("ca_pin"));
            auto r = proto::https_call_sync(pinned->context(), proto::parse_https_url(boot.at("coordinator").get<std::string>()),
                                            http::verb::post, "/v1/enroll", req.to_json().dump(), std::chrono::seconds(30));
            if (r.status != 200) throw std::runtime_error("enrollment answered " + std::to_string(r.status) + ": " + r.body);
            auto enrolled = proto::enroll_response::from_json(proto::parse_json(r.body));
            proto::write_file_atomic(out + "/node.key", proto::private_key_pem(*key), 0600);
            proto::write_file_atomic(out + "/node.crt", enrolled.certificate_pem, 0644);
            proto::write_file_atomic(out + "/node.name", enrolled.node_name + "\n", 0644);
            return 0;
        }

        settings s;
        s.endpoint = proto::parse_https_url(args.required("url"));
        s.target = args.value("path").value_or("/healthz");
        s.body = args.value("body").value_or("");
        const std::string method = args.value("method").value_or(s.body.empty() ? "GET" : "POST");
        if (method != "GET" && method != "POST") throw proto::usage_error("--method is GET or POST, got '" + method + "'");
        s.verb = method == "GET" ? http::verb::get : http::verb::post;
        s.mode = args.value("mode").value_or("keepalive");
        if (s.mode != "new" && s.mode != "resume" && s.mode != "keepalive")
            throw proto::usage_error("--mode is new, resume or keepalive, got '" + s.mode + "'");
        const int connections = static_cast<int>(args.number("connections", 1, 1, 10000));
        const int seconds = static_cast<int>(args.number("seconds", 5, 1, 3600));
        const auto pids = split(args.value("pids").value_or(""));

        auto tls = proto::client_tls::trusting(proto::read_file(args.required("ca")));
        if (auto cert = args.value("cert")) tls->use_identity(proto::read_file(*cert), proto::read_file(args.required("key")));
        // The listings are an operator's to read: the certificate and key of `graft-coordinator operator add`.
        if (auto file = args.value("credentials")) {
            const auto credentials = proto::parse_json(proto::read_file(*file));
            tls->use_identity(credentials.at("certificate").get<std::string>(), credentials.at("key").get<std::string>());
        }

        net::io_context io(1);
        totals t;
        const double cpu_before = pids.empty() ? 0 : cpu_seconds(pids);
        const auto start = steady::now();
        s.end = start + std::chrono::seconds(seconds);
        for (int i = 0; i < connections; ++i) net::co_spawn(io, connection(s, tls->context(), t), net::detached);
        io.run();
        const double elapsed = std::chrono::duration<double>(steady::now() - start).count();
        const double cpu = pids.empty() ? 0 : cpu_seconds(pids) - cpu_before;

        const double p50 = percentile(t.latency_ms, 50), p99 = percentile(t.latency_ms, 99);
        std::printf("%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.0f\t%.0f\t%ld\n", args.value("label").value_or("-").c_str(),
                    s.mode.c_str(), connections, static_cast<double>(t.requests) / elapsed, p50, p99,
                    t.requests ? cpu / static_cast<double>(t.requests) * 1e6 : 0.0,
                    t.handshakes ? 100.0 * static_cast<double>(t.resumed) / static_cast<double>(t.handshakes) : 0.0,
                    t.errors);
        if (t.errors) std::fprintf(stderr, "graft-load: first error: %s\n", t.first_error.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "graft-load: %s\n", e.what());
        return 1;
    }
}
