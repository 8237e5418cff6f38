#include "coordinator/kube/cluster_health.hpp"

namespace graft::coordinator {

void cluster_health::healthy(const std::string& version, const std::string& state) {
    std::lock_guard lock(mutex_);
    if (!version.empty()) version_ = version;
    state_ = state;  // the last error stays on show, with its time, until another replaces it
}

void cluster_health::problem(const std::string& message, const std::string& at) {
    std::lock_guard lock(mutex_);
    state_ = "error";
    ++problems_;
    error_ = message;
    error_at_ = at;
}

void cluster_health::watch_started() {
    std::lock_guard lock(mutex_);
    ++watches_;
}

cluster_health::counts cluster_health::counters() const {
    std::lock_guard lock(mutex_);
    return {state_.starts_with("watching"), watches_, problems_};
}

proto::json cluster_health::to_json() const {
    std::lock_guard lock(mutex_);
    return {{"kubeconfig", kubeconfig_}, {"version", version_}, {"state", state_}, {"last_error", error_}, {"last_error_at", error_at_}};
}

}  // namespace graft::coordinator
