#include "coordinator/status/journal_requests.hpp"

#include "proto/crypto.hpp"

#include <algorithm>

namespace graft::coordinator {

std::string_view to_string(enum journal_requests::state s) {
    switch (s) {
    case journal_requests::state::pending: return "pending";
    case journal_requests::state::taken: return "taken";
    case journal_requests::state::answered: return "answered";
    }
    return "pending";
}

std::optional<enum journal_requests::state> journal_request_state_from(std::string_view s) {
    for (auto state : {journal_requests::state::pending, journal_requests::state::taken, journal_requests::state::answered})
        if (to_string(state) == s) return state;
    return std::nullopt;
}

void local_journal_requests::expire(std::int64_t now) {
    std::erase_if(requests_, [&](const request& r) { return r.asked_at + kept_seconds < now; });
}

std::optional<journal_requests::request> local_journal_requests::ask(const std::string& node, std::string unit,
                                                                std::size_t lines, std::string asked_by, std::int64_t now) {
    std::lock_guard lock(mutex_);
    expire(now);
    const auto waiting = std::count_if(requests_.begin(), requests_.end(), [&](const request& r) {
        return r.node == node && r.state != state::answered;
    });
    if (static_cast<std::size_t>(waiting) >= max_pending) return std::nullopt;
    request r{proto::random_hex(8), node, std::move(unit), lines, std::move(asked_by), now, state::pending};
    requests_.push_back(r);
    return r;
}

std::vector<journal_requests::request> local_journal_requests::take(const std::string& node, std::int64_t now) {
    std::lock_guard lock(mutex_);
    expire(now);
    std::vector<request> out;
    for (auto& r : requests_)
        if (r.node == node && r.state == state::pending) {
            r.state = state::taken;
            out.push_back(r);
        }
    return out;
}

bool local_journal_requests::answered(const std::string& node, const std::string& id) {
    std::lock_guard lock(mutex_);
    for (auto& r : requests_)
        if (r.node == node && r.id == id) {
            r.state = state::answered;
            return true;
        }
    return false;
}

std::optional<journal_requests::request> local_journal_requests::find(const std::string& node, const std::string& id) {
    std::lock_guard lock(mutex_);
    for (const auto& r : requests_)
        if (r.node == node && r.id == id) return r;
    return std::nullopt;
}

}  // namespace graft::coordinator
