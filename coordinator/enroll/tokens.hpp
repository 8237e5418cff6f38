#pragma once
// Enrollment tokens: "<id>.<secret>", the id public (it finds the row), the secret stored only as its SHA-256.

#include "coordinator/store/registry.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace graft::coordinator {

struct new_token {
    std::string text;     // the whole token, shown once, in the graft.json it goes into
    stored_token stored;  // what the registry keeps
};

// 8 id characters and 32 secret characters from [a-z0-9]: 165 bits of secret.
new_token make_enrollment_token(proto::clock::time_point now, std::chrono::seconds ttl, std::optional<std::int64_t> uses);

}  // namespace graft::coordinator
