#pragma once
// What keeps one client, or a crowd of them, from taking the coordinator from everyone else: a cap on connections
// in all and per address, and a token bucket per address for enrollments. docs/security.md gives the numbers and
// what a client sees at each limit.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace graft::coordinator {

struct admission_limits {
    // Connections open at once. At the cap the listener stops accepting and the kernel's backlog holds the rest, so
    // a crowd waits rather than being reset.
    std::size_t max_connections = 4096;
    // Connections one address may hold open at once; one more is closed at once, before any TLS.
    std::size_t max_per_address = 256;
    // TLS handshakes computed at once: the CPU-heavy part of a new connection. A connection takes a slot only once its
    // first bytes have arrived, so idle connections hold none.
    std::size_t max_handshakes = 32;
    // Requests waiting for a handler thread; one more is answered 503 with Retry-After.
    std::size_t max_queued_requests = 512;
    // Enrollments per address: a bucket of `enroll_burst` tokens refilled at `enroll_rate` per second. An enrollment
    // that finds it empty is answered 429 with Retry-After.
    double enroll_rate = 5;
    double enroll_burst = 60;
};

// A token bucket per client address. Thread-safe. The addresses it remembers are bounded: when there are more than
// `max_addresses`, those whose bucket has refilled are forgotten (they are no different from new ones).
class rate_limiter {
public:
    rate_limiter(double rate_per_second, double burst, std::size_t max_addresses = 100000);

    // Takes a token for `address`. nullopt when there was one; else how long until there is.
    std::optional<std::chrono::milliseconds> take(const std::string& address, std::chrono::steady_clock::time_point now);

private:
    struct bucket {
        double tokens;
        std::chrono::steady_clock::time_point at;
    };
    double rate_, burst_;
    std::size_t max_addresses_;
    std::mutex mutex_;
    std::map<std::string, bucket, std::less<>> buckets_;
};

// Counts open connections, in all and per address. Thread-safe.
class connection_counter {
public:
    explicit connection_counter(const admission_limits& limits) : limits_(limits) {}

    // Counts a new connection from `address`; false (and not counted) when that address already holds its share.
    bool open(const std::string& address);
    void close(const std::string& address);
    bool full() const;
    std::size_t open_connections() const;

private:
    const admission_limits& limits_;
    mutable std::mutex mutex_;
    std::size_t total_ = 0;
    std::map<std::string, std::size_t, std::less<>> by_address_;
};

}  // namespace graft::coordinator
