#pragma once

namespace graft::proto {

// The wire protocol's version: the number in every request path (/v1/...) and in enrollment messages.
// A coordinator refuses an enrollment that names another version, so an agent too old or too new fails early and clearly.
inline constexpr int protocol_version = 1;
inline constexpr const char* api_prefix = "/v1";
inline constexpr const char* graft_version = "0.1.0";

// Every request and response body is capped at this size.
inline constexpr std::size_t max_body_bytes = 64 * 1024;

}  // namespace graft::proto
