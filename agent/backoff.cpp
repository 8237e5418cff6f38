#include "agent/backoff.hpp"

#include <algorithm>

namespace graft::agent {

backoff::backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap)
    : initial_(initial), cap_(std::max(cap, initial)), random_(std::random_device{}()) {}

std::chrono::milliseconds backoff::next() {
    auto d = initial_;
    for (unsigned i = 0; i < attempt_ && d < cap_; ++i) d *= 2;
    d = std::min(d, cap_);
    if (attempt_ < 64) ++attempt_;
    std::uniform_int_distribution<long long> half(d.count() / 2, d.count());
    return std::chrono::milliseconds(half(random_));
}

}  // namespace graft::agent
