#include "coordinator/http/admission.hpp"

#include <algorithm>
#include <cmath>

namespace graft::coordinator {

rate_limiter::rate_limiter(double rate_per_second, double burst, std::size_t max_addresses)
    : rate_(rate_per_second), burst_(std::max(burst, 1.0)), max_addresses_(max_addresses) {}

std::optional<std::chrono::milliseconds> rate_limiter::take(const std::string& address,
                                                            std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto refilled = [&](const bucket& b) {
        const double elapsed = std::chrono::duration<double>(now - b.at).count();
        return std::min(burst_, b.tokens + std::max(0.0, elapsed) * rate_);
    };
    if (buckets_.size() >= max_addresses_ && !buckets_.contains(address))
        std::erase_if(buckets_, [&](const auto& entry) { return refilled(entry.second) >= burst_; });
    auto [it, fresh] = buckets_.try_emplace(address, bucket{burst_, now});
    bucket& b = it->second;
    b.tokens = refilled(b);
    b.at = now;
    if (b.tokens >= 1.0) {
        b.tokens -= 1.0;
        return std::nullopt;
    }
    if (rate_ <= 0) return std::chrono::hours(1);
    return std::chrono::milliseconds(static_cast<long long>(std::ceil((1.0 - b.tokens) / rate_ * 1000.0)));
}

bool connection_counter::open(const std::string& address) {
    std::lock_guard lock(mutex_);
    auto& count = by_address_[address];
    if (count >= limits_.max_per_address) {
        if (count == 0) by_address_.erase(address);
        return false;
    }
    ++count;
    ++total_;
    return true;
}

void connection_counter::close(const std::string& address) {
    std::lock_guard lock(mutex_);
    auto it = by_address_.find(address);
    if (it == by_address_.end()) return;
    --total_;
    if (--it->second == 0) by_address_.erase(it);
}

bool connection_counter::full() const {
    std::lock_guard lock(mutex_);
    return total_ >= limits_.max_connections;
}

std::size_t connection_counter::open_connections() const {
    std::lock_guard lock(mutex_);
    return total_;
}

}  // namespace graft::coordinator
