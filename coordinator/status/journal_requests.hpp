#pragma once
// Operators' requests for a node's journal, waiting for the node's agent to pick them up with its next heartbeat
// and answer with an upload. Kept in memory: a request is worth something for minutes, and a coordinator restarted
// meanwhile is asked again. Bounded per node, and forgotten ten minutes after it was made. Safe from any thread.

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace graft::coordinator {

class journal_requests {
public:
    enum class state { pending, taken, answered };
    struct request {
        std::string id;
        std::string node;
        std::string unit;  // empty: the units that matter for the node's flavour
        std::size_t lines = 200;
        std::string asked_by;
        std::int64_t asked_at = 0;
        enum state state = state::pending;
    };

    // A new request; nullopt when the node has `max_pending` waiting already (an operator asking in a loop).
    std::optional<request> ask(const std::string& node, std::string unit, std::size_t lines, std::string asked_by,
                               std::int64_t now);
    // The node's pending requests, now taken: a heartbeat hands each out once.
    std::vector<request> take(const std::string& node, std::int64_t now);
    // The node's upload answered request `id`; false when there is no such request of that node.
    bool answered(const std::string& node, const std::string& id);
    std::optional<request> find(const std::string& node, const std::string& id) const;

    static constexpr std::size_t max_pending = 8;
    static constexpr std::int64_t kept_seconds = 600;

private:
    void expire(std::int64_t now);  // holds mutex_
    mutable std::mutex mutex_;
    std::vector<request> requests_;
};

std::string_view to_string(enum journal_requests::state s);

}  // namespace graft::coordinator
