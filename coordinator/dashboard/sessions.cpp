#include "coordinator/dashboard/sessions.hpp"

#include "proto/crypto.hpp"

namespace graft::coordinator {

void dashboard_sessions::expire(std::int64_t now) {
    std::erase_if(tokens_, [&](const auto& t) { return t.second.expires_at <= now; });
    std::erase_if(sessions_, [&](const auto& s) { return s.second.expires_at <= now; });
}

dashboard_sessions::sign_in dashboard_sessions::issue_token(const std::string& operator_name, std::int64_t now) {
    std::lock_guard lock(mutex_);
    expire(now);
    sign_in out{proto::random_hex(32), now + token_seconds};
    tokens_[out.token] = {operator_name, out.expires_at};
    return out;
}

std::optional<std::pair<std::string, std::string>> dashboard_sessions::redeem(std::string_view token, std::int64_t now) {
    std::lock_guard lock(mutex_);
    expire(now);
    auto it = tokens_.find(token);
    if (it == tokens_.end()) return std::nullopt;
    std::string operator_name = std::move(it->second.operator_name);
    tokens_.erase(it);  // once only
    std::string id = proto::random_hex(32);
    sessions_[id] = {operator_name, now + session_seconds};
    return std::pair{std::move(id), std::move(operator_name)};
}

std::optional<std::string> dashboard_sessions::operator_of(std::string_view header, std::int64_t now) const {
    // Cookie: a=b; graft_session=ID; c=d
    while (!header.empty()) {
        const auto semicolon = header.find(';');
        std::string_view pair = header.substr(0, semicolon);
        header = semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon + 1);
        while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos || pair.substr(0, eq) != cookie_name) continue;
        std::lock_guard lock(mutex_);
        auto it = sessions_.find(pair.substr(eq + 1));
        if (it != sessions_.end() && it->second.expires_at > now) return it->second.operator_name;
    }
    return std::nullopt;
}

std::string dashboard_sessions::cookie(const std::string& session_id) {
    return std::string(cookie_name) + "=" + session_id + "; Path=/; Max-Age=" + std::to_string(session_seconds) +
           "; HttpOnly; Secure; SameSite=Strict";
}

}  // namespace graft::coordinator
