#pragma once
// How a browser signs in to the dashboard. Browsers rarely hold client certificates, so an operator's certificate
// is exchanged for a session: `graft-coordinator dashboard` asks (over that certificate) for a one-time sign-in
// token, valid five minutes, and prints a link carrying it in the URL's fragment, which browsers never send to a
// server or put in a Referer. The page posts it once and gets a session cookie (HttpOnly, Secure,
// SameSite=Strict) that reads the fleet as that operator for twelve hours. Kept in memory: a restarted
// coordinator signs everyone out. Safe from any thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace graft::coordinator {

class dashboard_sessions {
public:
    static constexpr std::int64_t token_seconds = 300;
    static constexpr std::int64_t session_seconds = 12 * 3600;
    static constexpr std::string_view cookie_name = "graft_session";

    struct sign_in {
        std::string token;
        std::int64_t expires_at = 0;
    };
    // A one-time sign-in token for `operator_name`.
    sign_in issue_token(const std::string& operator_name, std::int64_t now);
    // Spends a sign-in token: the new session's id and its operator, or nullopt when the token is unknown, spent or
    // expired.
    std::optional<std::pair<std::string, std::string>> redeem(std::string_view token, std::int64_t now);
    // The operator a request's Cookie header signs in as, if any.
    std::optional<std::string> operator_of(std::string_view cookie_header, std::int64_t now) const;
    // The Set-Cookie value for a session.
    static std::string cookie(const std::string& session_id);

private:
    struct grant {
        std::string operator_name;
        std::int64_t expires_at = 0;
    };
    void expire(std::int64_t now);  // holds mutex_
    mutable std::mutex mutex_;
    std::map<std::string, grant, std::less<>> tokens_, sessions_;
};

}  // namespace graft::coordinator
