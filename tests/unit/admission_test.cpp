#include "coordinator/http/admission.hpp"

#include <catch2/catch.hpp>

using namespace graft::coordinator;
using namespace std::chrono;

TEST_CASE("an address may enroll a burst at once, then at the sustained rate, told how long to wait") {
    rate_limiter limiter(2.0, 3.0);  // 3 at once, then 2 a second
    const steady_clock::time_point t0{seconds(1000)};
    for (int i = 0; i < 3; ++i) CHECK_FALSE(limiter.take("192.0.2.7", t0));
    auto wait = limiter.take("192.0.2.7", t0);
    REQUIRE(wait);
    CHECK(*wait == milliseconds(500));
    // Another address has a bucket of its own.
    CHECK_FALSE(limiter.take("192.0.2.8", t0));
    // Half a second later one token is back, and only one.
    CHECK_FALSE(limiter.take("192.0.2.7", t0 + milliseconds(500)));
    CHECK(limiter.take("192.0.2.7", t0 + milliseconds(500)));
    // A long pause refills to the burst, never beyond it.
    const auto later = t0 + hours(1);
    for (int i = 0; i < 3; ++i) CHECK_FALSE(limiter.take("192.0.2.7", later));
    CHECK(limiter.take("192.0.2.7", later));
}

TEST_CASE("the limiter forgets refilled addresses when it would remember too many, and keeps the rest") {
    rate_limiter limiter(1.0, 1.0, 2);
    const steady_clock::time_point t0{seconds(1000)};
    CHECK_FALSE(limiter.take("a", t0));
    CHECK_FALSE(limiter.take("b", t0 + seconds(5)));
    // "a" has refilled by now; making room for "c" forgets it, while "b" stays empty.
    CHECK_FALSE(limiter.take("c", t0 + seconds(5)));
    CHECK(limiter.take("b", t0 + seconds(5)));
}

TEST_CASE("connections are counted in all and per address, and one address cannot take more than its share") {
    admission_limits limits;
    limits.max_connections = 3;
    limits.max_per_address = 2;
    connection_counter counter(limits);
    CHECK(counter.open("192.0.2.7"));
    CHECK(counter.open("192.0.2.7"));
    CHECK_FALSE(counter.open("192.0.2.7"));
    CHECK_FALSE(counter.full());
    CHECK(counter.open("192.0.2.8"));
    CHECK(counter.full());
    CHECK(counter.open_connections() == 3);
    counter.close("192.0.2.7");
    CHECK_FALSE(counter.full());
    CHECK(counter.open("192.0.2.7"));
    counter.close("192.0.2.9");  // never opened: no effect
    CHECK(counter.open_connections() == 3);
}
