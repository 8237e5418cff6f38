#include "proto/time.hpp"

#include <catch2/catch.hpp>

using namespace graft::proto;

TEST_CASE("RFC 3339 times round-trip in UTC") {
    auto t = from_unix(1795000000);
    CHECK(to_rfc3339(t) == "2026-11-18T11:06:40Z");  // date -u -d @1795000000
    CHECK(from_rfc3339("2026-11-18T11:06:40Z") == t);
    CHECK_FALSE(from_rfc3339("2026-11-17 09:46:40").has_value());
    CHECK_FALSE(from_rfc3339("2026-11-17T09:46:40Zjunk").has_value());
    // Beyond what the clock holds (it reaches 2262): refused, not overflowed (a join spec's expires_at, say).
    CHECK_FALSE(from_rfc3339("2529-12-03T00:15:00Z").has_value());
    CHECK(from_rfc3339("2200-01-01T00:00:00Z").has_value());
}

TEST_CASE("durations read Go form sums of ms, s, m, h, and days, and nothing else") {
    CHECK(parse_duration("90s") == std::chrono::seconds(90));
    CHECK(parse_duration("15m") == std::chrono::seconds(900));
    CHECK(parse_duration("24h") == std::chrono::seconds(86400));
    CHECK(parse_duration("7d") == std::chrono::seconds(604800));
    CHECK_FALSE(parse_duration("15").has_value());
    CHECK_FALSE(parse_duration("0m").has_value());
    CHECK_FALSE(parse_duration("-5m").has_value());
    // Go's form, as kubeadm prints durations.
    CHECK(parse_duration("1h30m") == std::chrono::seconds(5400));
    CHECK(parse_duration("24h0m0s") == std::chrono::seconds(86400));
    CHECK(parse_duration("1.5h") == std::chrono::seconds(5400));
    CHECK(parse_duration("1500ms") == std::chrono::seconds(2));
    CHECK_FALSE(parse_duration("0s0m").has_value());
    CHECK_FALSE(parse_duration("1h30").has_value());
    CHECK_FALSE(parse_duration("h").has_value());
    CHECK_FALSE(parse_duration("1.h").has_value());
    CHECK_FALSE(parse_duration("1w").has_value());
    CHECK_FALSE(parse_duration("200000000000h").has_value());
    CHECK_FALSE(parse_duration("9223372036854775807d").has_value());  // would overflow when multiplied out
}

TEST_CASE("ages read the way kubectl shows them") {
    CHECK(short_age(std::chrono::seconds(45)) == "45s");
    CHECK(short_age(std::chrono::seconds(600)) == "10m");
    CHECK(short_age(std::chrono::hours(5)) == "5h");
    CHECK(short_age(std::chrono::hours(72)) == "3d");
}
