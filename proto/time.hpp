#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace graft::proto {

using clock = std::chrono::system_clock;

// RFC 3339 in UTC with second precision ("2026-11-23T11:24:00Z"), the form Kubernetes and graft's wire use.
std::string to_rfc3339(clock::time_point t);
std::optional<clock::time_point> from_rfc3339(std::string_view text);
std::int64_t to_unix(clock::time_point t);
clock::time_point from_unix(std::int64_t seconds);
// "45s", "12m", "3h", "2d": how `kubectl get` shows an age.
std::string short_age(std::chrono::seconds age);
// Parses a duration in Go's form ("90s", "1h30m", "24h0m0s", "1.5h") or in days ("7d") into seconds (at least one);
// nullopt on anything else.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace graft::proto
