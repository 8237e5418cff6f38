#pragma once
// The coordinator's counters, served at GET /metrics in the Prometheus text exposition format (version 0.0.4):
// nodes per phase, enrollments and their refusals by reason, join credentials issued and revoked, request latency
// per endpoint as histograms, the Node watch's state and restarts, and the build. One set per process, as a
// Prometheus client library's default registry is: whatever counts reaches it without being handed a pointer.
// Every update is a relaxed atomic or a short lock, so counting never slows what is counted.

#include "coordinator/kube/cluster_health.hpp"
#include "coordinator/status/node_snapshot.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace graft::coordinator {

// What a request was for, as the latency histograms tell them apart.
enum class endpoint { healthz, enroll, report, join, renew, heartbeat, journal, nodes, node, details, watch, metrics,
                      dashboard, other };
inline constexpr std::size_t endpoint_count = 14;
std::string_view to_string(endpoint e);
endpoint endpoint_of(std::string_view method, std::string_view target);

class fleet_metrics {
public:
    // An enrollment's outcome: "accepted", "pending_approval", or the refusal's error code.
    void enrollment(std::string_view outcome);
    void join_issued() { joins_issued_.fetch_add(1, std::memory_order_relaxed); }
    void join_revoked() { joins_revoked_.fetch_add(1, std::memory_order_relaxed); }
    // With several coordinators: whether this one leads the Node watch (leader_election.hpp).
    void leading(bool yes) { leading_ = yes ? 1 : 0; }
    // A request answered: how long from its header read to its answer written.
    void request(endpoint e, unsigned status, std::chrono::nanoseconds took);

    // The exposition text. `snapshot` gives nodes per phase, `cluster` the Node watch (both may be null).
    std::string render(const node_snapshot* snapshot, const cluster_health* cluster) const;

private:
    static constexpr std::array<double, 14> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1,     2.5,   5,    10};
    struct histogram {
        std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets{};  // the last is +Inf
        std::atomic<std::uint64_t> sum_ns{0};
        std::array<std::atomic<std::uint64_t>, 5> by_class{};  // 1xx..5xx answers
    };
    std::array<histogram, endpoint_count> requests_;
    std::atomic<std::uint64_t> joins_issued_{0}, joins_revoked_{0};
    std::atomic<int> leading_{-1};  // -1: one coordinator alone, no election
    mutable std::mutex enrollments_mutex_;
    std::map<std::string, std::uint64_t, std::less<>> enrollments_;
};

fleet_metrics& metrics();

}  // namespace graft::coordinator
