#include "agent/backoff.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace std::chrono_literals;

TEST_CASE("backoff doubles from its start, jittered into the upper half, and stops at its cap") {
    graft::agent::backoff b(100ms, 1000ms);
    const std::chrono::milliseconds ceilings[] = {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms, 1000ms};
    for (auto ceiling : ceilings) {
        auto d = b.next();
        CHECK(d >= ceiling / 2);
        CHECK(d <= ceiling);
    }
    b.reset();
    CHECK(b.next() <= 100ms);
}

TEST_CASE("backoff waits differ between agents, so a fleet does not retry in step") {
    std::set<long long> seen;
    for (int i = 0; i < 20; ++i) seen.insert(graft::agent::backoff(10000ms, 60000ms).next().count());
    CHECK(seen.size() > 1);
}
