#include "coordinator/enroll/tokens.hpp"

#include "proto/crypto.hpp"

namespace graft::coordinator {

new_token make_enrollment_token(proto::clock::time_point now, std::chrono::seconds ttl, std::optional<std::int64_t> uses) {
    new_token t;
    t.stored.id = proto::random_string(8, proto::lowercase_alphanumeric);
    const std::string secret = proto::random_string(32, proto::lowercase_alphanumeric);
    t.stored.secret_sha256 = proto::sha256_hex(secret);
    t.stored.expires_at = proto::to_unix(now + ttl);
    t.stored.uses_left = uses;
    t.stored.created_at = proto::to_unix(now);
    t.text = t.stored.id + "." + secret;
    return t;
}

}  // namespace graft::coordinator
