#pragma once
// Capped exponential backoff with jitter, so a rack of nodes that lost their coordinator at the same moment do not
// all come back at the same moment. Not thread-safe: one per retry loop.

#include <chrono>
#include <random>

namespace graft::agent {

class backoff {
public:
    backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap);
    // The next wait: a random point in [d/2, d], where d doubles from `initial` up to `cap` with each call.
    std::chrono::milliseconds next();
    void reset() { attempt_ = 0; }

private:
    std::chrono::milliseconds initial_, cap_;
    unsigned attempt_ = 0;
    std::mt19937_64 random_;
};

}  // namespace graft::agent
