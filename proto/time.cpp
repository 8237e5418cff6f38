#include "proto/time.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
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
    // Go's time.Duration form (what kubeadm and kubectl print: 1h30m, 24h0m0s, 1.5h, 500ms) plus days: numbers, each
    // with a unit, summed. Sub-second totals round up to a second; anything over a hundred years is refused.
    if (text.empty()) return std::nullopt;
    long double total = 0;
    while (!text.empty()) {
        std::size_t digits = 0;
        while (digits < text.size() && ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.')) ++digits;
        const std::string_view number = text.substr(0, digits);
        if (number.empty() || number.front() == '.' || number.back() == '.' ||
            std::count(number.begin(), number.end(), '.') > 1 || number.size() > 18)
            return std::nullopt;
        text.remove_prefix(digits);
        std::size_t unit_length = 0;
        while (unit_length < text.size() && !(text[unit_length] >= '0' && text[unit_length] <= '9')) ++unit_length;
        const std::string_view unit = text.substr(0, unit_length);
        text.remove_prefix(unit_length);
        long double scale = 0;
        if (unit == "ns") scale = 1e-9L;
        else if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs") scale = 1e-6L;
        else if (unit == "ms") scale = 1e-3L;
        else if (unit == "s") scale = 1;
        else if (unit == "m") scale = 60;
        else if (unit == "h") scale = 3600;
        else if (unit == "d") scale = 86400;
        else return std::nullopt;
        total += std::stold(std::string(number)) * scale;
        if (total > 100.0L * 366 * 86400) return std::nullopt;
    }
    if (total <= 0) return std::nullopt;
    return std::chrono::seconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(total - 1e-9L))));
}

}  // namespace graft::proto
