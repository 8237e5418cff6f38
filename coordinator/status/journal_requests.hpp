#pragma once
// Operators' requests for a node's journal, waiting for the node's agent to pick them up with its next heartbeat
// and answer with an upload. A request is worth something for minutes: it is forgotten ten minutes after it was
// made, and a node has at most `max_pending` unanswered at a time. One coordinator keeps them in memory
// (local_journal_requests; one restarted meanwhile is asked again); coordinators sharing an etcd registry keep them
// there (etcd_presence.hpp), so a node heartbeating to one answers what an operator asked of another. Safe from any
// thread.

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

    virtual ~journal_requests() = default;
    // A new request; nullopt when the node has `max_pending` waiting already (an operator asking in a loop).
    virtual std::optional<request> ask(const std::string& node, std::string unit, std::size_t lines,
                                       std::string asked_by, std::int64_t now) = 0;
    // The node's pending requests, now taken: a heartbeat hands each out once.
    virtual std::vector<request> take(const std::string& node, std::int64_t now) = 0;
    // The node's upload answered request `id`; false when there is no such request of that node.
    virtual bool answered(const std::string& node, const std::string& id) = 0;
    virtual std::optional<request> find(const std::string& node, const std::string& id) = 0;

    static constexpr std::size_t max_pending = 8;
    static constexpr std::int64_t kept_seconds = 600;
};

// The requests in this process's memory.
class local_journal_requests final : public journal_requests {
public:
    std::optional<request> ask(const std::string& node, std::string unit, std::size_t lines, std::string asked_by,
                               std::int64_t now) override;
    std::vector<request> take(const std::string& node, std::int64_t now) override;
    bool answered(const std::string& node, const std::string& id) override;
    std::optional<request> find(const std::string& node, const std::string& id) override;

private:
    void expire(std::int64_t now);  // holds mutex_
    std::mutex mutex_;
    std::vector<request> requests_;
};

std::string_view to_string(enum journal_requests::state s);
std::optional<enum journal_requests::state> journal_request_state_from(std::string_view s);

}  // namespace graft::coordinator
