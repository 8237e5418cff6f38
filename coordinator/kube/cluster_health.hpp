#pragma once
// What the coordinator last learned of the Kubernetes API server: its version, whether the Node watch is running,
// and the last problem (401, 403, 5xx, unreachable, a malformed event). `status` shows it above the node table.
// Safe to use from several threads.

#include "proto/json_fields.hpp"

#include <cstdint>
#include <mutex>
#include <string>

namespace graft::coordinator {

class cluster_health {
public:
    explicit cluster_health(std::string kubeconfig) : kubeconfig_(std::move(kubeconfig)) {}

    // The API server answered; `state` says what the coordinator is doing with it ("watching Nodes").
    void healthy(const std::string& version, const std::string& state);
    // Something failed; `message` says what and what to do. It never carries a credential.
    void problem(const std::string& message, const std::string& at);

    // A Node watch (re)started: the first, and each after a timeout or a failure.
    void watch_started();

    proto::json to_json() const;

    struct counts {
        bool watching = false;        // the last word was a healthy watch
        std::uint64_t watches = 0;    // watches started
        std::uint64_t problems = 0;   // problems reported
    };
    counts counters() const;

private:
    std::uint64_t watches_ = 0;
    std::uint64_t problems_ = 0;
    mutable std::mutex mutex_;
    std::string kubeconfig_;
    std::string version_;
    std::string state_ = "connecting";
    std::string error_;
    std::string error_at_;
};

}  // namespace graft::coordinator
