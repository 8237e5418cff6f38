#include "proto/time.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace graft::proto {

std::string to_rfc3339(clock::time_point t) {
    std::time_t tt = clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::optional<clock::time_point> from_rfc3339(std::string_view text) {
    std::tm tm{};
    std::string s(text);
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == nullptr || *end != '\0') return std::nullopt;
    // The clock counts nanoseconds in 64 bits, which reach to 2262: a later time (found by the messages fuzz target)
    // is refused rather than overflowing.
    const std::time_t t = timegm(&tm);
    constexpr auto limit = std::chrono::duration_cast<std::chrono::seconds>(clock::duration::max()).count() - 1;
    if (t == static_cast<std::time_t>(-1) || t > limit || t < -limit) return std::nullopt;
    return clock::from_time_t(t);
}

std::int64_t to_unix(clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

clock::time_point from_unix(std::int64_t seconds) { return clock::time_point(std::chrono::seconds(seconds)); }

std::string short_age(std::chrono::seconds age) {
    auto s = age.count();
    if (s < 0) s = 0;
    if (s < 120) return std::to_string(s) + "s";
    if (s < 2 * 3600) return std::to_string(s / 60) + "m";
    if (s < 2 * 86400) return std::to_string(s / 3600) + "h";
    return std::to_string(s / 86400) + "d";
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
    if (text.size() < 2) return std::nullopt;
    std::int64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
    // At most a hundred years of any unit, so no multiplication below overflows.
    if (ec != std::errc{} || ptr != text.data() + text.size() - 1 || n <= 0 || n > 100LL * 366 * 86400) return std::nullopt;
    switch (text.back()) {
    case 's': return std::chrono::seconds(n);
    case 'm': return std::chrono::seconds(n * 60);
    case 'h': return std::chrono::seconds(n * 3600);
    case 'd': return std::chrono::seconds(n * 86400);
    default: return std::nullopt;
    }
}

}  // namespace graft::proto
