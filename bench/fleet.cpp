// graft-fleet: a fleet simulator. Drives N simulated agents against a running coordinator, each doing what a real
// agent does on first boot: make a P-256 key and CSR, enroll over TLS trusting only the pinned CA, then over mutual
// TLS (one kept connection, as the agent keeps it) report `joining`, ask for a join spec and report `joined`. At most
// C agents are in flight at once.
// Prints throughput and per-call latency percentiles. See docs/benchmarks.md.

#include "proto/cli.hpp"
#include "proto/files.hpp"
#include "proto/https_client.hpp"
#include "proto/messages.hpp"
#include "proto/pki.hpp"
#include "proto/tls.hpp"
#include "proto/crypto.hpp"
#include "proto/version.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include <sys/resource.h>

namespace net = boost::asio;
namespace http = boost::beast::http;
using namespace graft;
using steady = std::chrono::steady_clock;

namespace {

struct run_stats {
    std::map<std::string, std::vector<double>> latency_ms;  // by call
    int completed = 0;
    int failed = 0;
    std::map<unsigned, int> told_to_wait;  // 429 and 503 answers, each honoured by waiting its Retry-After
    int network_retries = 0;               // connection errors and timeouts, retried with backoff as the agent does
    std::string first_error;
    std::vector<std::pair<std::string, std::string>> enrolled;  // each acknowledged enrollment: node name, machine-id
};

// The coordinators an agent may talk to, and the connection to the one it talks to now. With several (graft.json's
// "coordinators"), a failed connection moves it to the next one at once, as graft-agent does.
struct coordinator_link {
    net::ssl::context& tls;
    std::vector<proto::https_endpoint> endpoints;
    std::size_t at = 0;
    std::unique_ptr<proto::https_connection> connection = std::make_unique<proto::https_connection>(tls, endpoints[at]);

    void next() {
        at = (at + 1) % endpoints.size();
        connection = std::make_unique<proto::https_connection>(tls, endpoints[at]);
    }
};

// One call, asked again after the Retry-After of a 429 or 503 as an agent does. The latency counts every try.
net::awaitable<proto::http_result> timed(run_stats& stats, const std::string& call, coordinator_link& link,
                                         http::verb verb, std::string target, std::string body) {
    auto start = steady::now();
    auto backoff = std::chrono::milliseconds(500);
    for (int attempt = 1;; ++attempt) {
        proto::http_result r;
        bool failed = false;  // (no co_await inside a handler)
        try {
            r = co_await link.connection->call(verb, target, body, std::chrono::seconds(30));
        } catch (const std::exception&) {
            // The agent retries a connection that failed or timed out, with backoff; so does the simulator, a while.
            if (attempt >= 10) throw;
            failed = true;
        }
        if (failed) {
            ++stats.network_retries;
            link.next();
            if (link.endpoints.size() > 1 && attempt % link.endpoints.size() != 0) continue;  // the next one, at once
            net::steady_timer wait(co_await net::this_coro::executor, backoff);
            co_await wait.async_wait(net::use_awaitable);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(8000));
            continue;
        }
        if (r.status == 429 || r.status == 503) {
            ++stats.told_to_wait[r.status];
            const long long seconds = r.retry_after.empty() ? 1 : std::stoll(r.retry_after.substr(0, 6));
            net::steady_timer wait(co_await net::this_coro::executor, std::chrono::seconds(std::max(1LL, seconds)));
            co_await wait.async_wait(net::use_awaitable);
            continue;
        }
        stats.latency_ms[call].push_back(std::chrono::duration<double, std::milli>(steady::now() - start).count());
        if (r.status != 200) throw std::runtime_error(call + ": HTTP " + std::to_string(r.status) + " " + r.body);
        co_return r;
    }
}

net::awaitable<void> one_agent(run_stats& stats, std::vector<proto::https_endpoint> endpoints, std::size_t first,
                               const std::string& pin, const std::string& token, bool enroll_only) {
    try {
        auto key = proto::generate_p256_key();
        proto::enroll_request req;
        req.protocol_version = proto::protocol_version;
        req.enrollment_token = token;
        req.csr_pem = proto::make_csr_pem(*key, "simulated");
        req.facts.machine_id = proto::random_hex(16);
        req.facts.arch = "aarch64";
        req.facts.model = "graft-fleet simulated node";
        auto pinned = proto::client_tls::pinned(pin);
        coordinator_link anonymous{pinned->context(), endpoints, first};
        auto r = co_await timed(stats, "enroll", anonymous, http::verb::post, "/v1/enroll", req.to_json().dump());
        auto enrolled = proto::enroll_response::from_json(proto::parse_json(r.body));
        stats.enrolled.emplace_back(enrolled.node_name, req.facts.machine_id);
        if (enroll_only) {
            ++stats.completed;
            co_return;
        }

        auto tls = proto::client_tls::trusting(enrolled.ca_certificate_pem);
        tls->use_identity(*proto::certificate_from_pem(enrolled.certificate_pem), *key);
        // As the agent does: the node's calls in a row share one connection, to the coordinator that answered last.
        coordinator_link node{tls->context(), endpoints, anonymous.at};
        const std::string base = "/v1/nodes/" + enrolled.node_name;
        co_await timed(stats, "report", node, http::verb::post, base + "/report", R"({"phase":"joining"})");
        co_await timed(stats, "join", node, http::verb::post, base + "/join", "{}");
        co_await timed(stats, "report", node, http::verb::post, base + "/report", R"({"phase":"joined"})");
        ++stats.completed;
    } catch (const std::exception& e) {
        if (stats.first_error.empty()) stats.first_error = e.what();
        ++stats.failed;
    }
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
    try {
        proto::cli_args args(std::vector<std::string>(argv + 1, argv + argc), {"boot-config", "nodes", "concurrency", "sources", "record"},
                             {"help", "enroll-only"});
        if (args.has("help")) {
            std::cout << "usage: graft-fleet --boot-config GRAFT_JSON [--nodes N] [--concurrency C] [--sources S] [--enroll-only]\n"
                         "                   [--record FILE]\n"
                         "Simulates N first boots (default 200), at most C at once (default 20), against the coordinator "
                         "that GRAFT_JSON names.\n"
                         "--sources S spreads the nodes over S loopback addresses (127.0.1.1 on), as a fleet comes from "
                         "many; --enroll-only stops each after its enrollment. A 429 or 503 is asked again after its "
                         "Retry-After, and a failed connection retried with backoff (up to 10 tries), as the agent "
                         "does. With several coordinators in GRAFT_JSON, nodes start at each in turn and a failed "
                         "connection moves on to the next. --record writes each acknowledged enrollment to FILE as "
                         "NAME MACHINE-ID lines.\n";
            return 0;
        }
        const auto boot = proto::parse_json(proto::read_file(args.required("boot-config")));
        std::vector<proto::https_endpoint> endpoints{proto::parse_https_url(boot.at("coordinator").get<std::string>())};
        for (const auto& url : boot.value("coordinators", std::vector<std::string>{}))
            if (url != boot.at("coordinator")) endpoints.push_back(proto::parse_https_url(url));
        const std::string pin = boot.at("ca_pin"), token = boot.at("enrollment_token");
        const int nodes = static_cast<int>(args.number("nodes", 200, 1, 100000));
        const int concurrency = static_cast<int>(args.number("concurrency", 20, 1, 10000));
        const int sources = static_cast<int>(args.number("sources", 0, 1, 60000));
        const bool enroll_only = args.has("enroll-only");

        // Thousands of simulated nodes at once need as many descriptors: take what the hard limit allows.
        if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
            files.rlim_cur = files.rlim_max;
            ::setrlimit(RLIMIT_NOFILE, &files);
        }
        net::io_context io;
        run_stats stats;
        int started = 0;
        // Each worker runs agents one after another, so at most `concurrency` are in flight.
        auto worker = [&]() -> net::awaitable<void> {
            while (started < nodes) {
                auto from = endpoints;
                if (sources) {
                    const int n = started % sources + 1;  // 127.0.1.1, 127.0.1.2, ... 127.0.234.255
                    for (auto& ep : from) ep.source = "127.0." + std::to_string(1 + n / 256) + "." + std::to_string(n % 256);
                }
                // Spread over the coordinators, as agents flashed from different graft.json files would be.
                const std::size_t first = static_cast<std::size_t>(started) % endpoints.size();
                ++started;
                co_await one_agent(stats, std::move(from), first, pin, token, enroll_only);
            }
        };
        auto start = steady::now();
        for (int i = 0; i < concurrency; ++i) net::co_spawn(io, worker(), net::detached);
        io.run();
        const double seconds = std::chrono::duration<double>(steady::now() - start).count();

        std::printf("nodes %d, concurrency %d: %d completed, %d failed in %.2f s\n", nodes, concurrency, stats.completed,
                    stats.failed, seconds);
        std::printf("first boots per second (enroll+report+join+report): %.1f\n", stats.completed / seconds);
        std::printf("%-8s %8s %10s %10s %10s\n", "call", "count", "p50 ms", "p99 ms", "max ms");
        for (const auto& [call, v] : stats.latency_ms)
            std::printf("%-8s %8zu %10.2f %10.2f %10.2f\n", call.c_str(), v.size(), percentile(v, 50), percentile(v, 99),
                        percentile(v, 100));
        for (const auto& [status, count] : stats.told_to_wait)
            std::printf("answered %u with Retry-After, and asked again: %d times\n", status, count);
        if (stats.network_retries)
            std::printf("connection failed or timed out, and tried again with backoff: %d times\n", stats.network_retries);
        if (auto record = args.value("record")) {
            std::string lines;
            for (const auto& [name, machine_id] : stats.enrolled) lines += name + " " + machine_id + "\n";
            proto::write_file_atomic(*record, lines, 0644);
        }
        if (stats.failed) {
            std::fprintf(stderr, "graft-fleet: first error: %s\n", stats.first_error.c_str());
            return 1;
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "graft-fleet: %s\n", e.what());
        return 1;
    }
}
