#pragma once
// Which of several coordinators sharing an etcd registry runs the Node watch's effects: marking nodes ready and
// revoking their join credentials. It is the one holding the key PREFIX/leader, put there with a lease of a few
// seconds that it keeps alive. When it dies the lease runs out and the key goes with it; the others try to create the
// key every second, and the first to do so leads. A coordinator that cannot renew its lease in time stops acting as
// the leader before the lease can have run out, so two never act at once; one that stops cleanly revokes its lease,
// and another takes over within a second.

#include "coordinator/store/etcd.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace graft::coordinator {

class leader_election {
public:
    // `on_change(true)` when this coordinator becomes the leader and `(false)` when it stops being one, from the
    // election's own thread. `identity` names this coordinator to the others (its advertise URL).
    leader_election(etcd_options options, std::string key, std::string identity, std::function<void(bool)> on_change,
                    std::chrono::seconds ttl = std::chrono::seconds(6));
    ~leader_election();  // stops, and hands leadership on at once when it has it
    leader_election(const leader_election&) = delete;
    leader_election& operator=(const leader_election&) = delete;

    bool leading() const { return leading_; }
    // The leader's identity as this coordinator last saw it ("" before it knows).
    std::string leader() const;

private:
    void run(std::stop_token stop);
    void lead(std::stop_token stop, std::int64_t lease);
    // Sleeps `d` unless stopped first; false when stopped.
    bool pause(std::stop_token stop, std::chrono::milliseconds d);
    void set_leader(std::string leader);

    etcd_client etcd_;
    std::string key_, identity_;
    std::function<void(bool)> on_change_;
    std::chrono::seconds ttl_;
    std::atomic<bool> leading_ = false;
    mutable std::mutex mutex_;
    std::condition_variable_any wake_;
    std::string leader_;
    std::jthread thread_;
};

}  // namespace graft::coordinator
