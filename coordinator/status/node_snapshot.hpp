#pragma once
// What the status endpoints read: every node as the JSON of its status answer, rendered once when the node changes
// rather than on every request, kept in name order, with a version that counts changes and the latest changes
// themselves for watchers. Reads take a shared lock for as long as it takes to copy pointers, so they never wait
// for the disk and may run on the network threads.
//
// snapshotting_registry keeps it current on every write made through it. A change made by another process (an
// operator's `nodes delete`, which works on the database directly) is picked up by reload_if_changed(), which
// serve calls every second.

#include "coordinator/store/registry.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <array>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace graft::coordinator {

// A node's status answer as the API sends it.
proto::node_status node_status_of(const node_record& n, bool readiness_tracked);

struct snapshot_entry {
    std::string name;
    std::string phase;
    std::string json;  // node_status_of(...).to_json(), dumped
    // What a report that changes nothing is checked against (router.cpp): never in the JSON.
    std::string reason = {};
    std::string address = {};
    std::string certificate_serial = {};
    std::string pending_serial = {};
};

enum class change_kind { added, modified, deleted };
std::string_view to_string(change_kind kind);

struct snapshot_change {
    std::uint64_t version = 0;
    change_kind kind = change_kind::modified;
    std::shared_ptr<const snapshot_entry> node;  // for a deletion, the node as it was last
    std::string previous_phase = {};              // before a modification; "" for an addition
};

class node_snapshot {
public:
    // Reads every node once. `kept_changes` bounds the changes remembered for watchers that fall behind.
    node_snapshot(node_registry& registry, bool readiness_tracked, std::size_t kept_changes = 4096);

    // Reads one node again after a write to it (or finds it gone).
    void refresh(const std::string& name);
    // Reads every node again, recording what differs as changes.
    void reload();
    // reload() when another process has written to the registry since the last look; true when it did. Without
    // `wait`, it looks only when the registry is free at once (a read on a network thread does so before it
    // answers, so an operator's `nodes delete` shows in the next listing).
    bool reload_if_changed(bool wait = true);
    // Looks as reload_if_changed(false) does; true only when it could look, so the snapshot is known to hold every
    // write made up to now. What answers for a node's certificate from the snapshot asks this first. A look that
    // succeeded less than a millisecond ago stands: the registry is not asked on every request, and an operator's
    // command (a process start, a commit, an exit) takes longer than that anyway.
    bool confirm_current();

    struct page {
        std::vector<std::shared_ptr<const snapshot_entry>> nodes;
        std::string next;  // the name to continue after; empty on the last page
        std::uint64_t version = 0;
    };
    // Up to `limit` nodes after the name `after` ("" from the start), in name order, of `phase` only when given.
    page list(std::string_view phase, std::string_view after, std::size_t limit) const;
    std::shared_ptr<const snapshot_entry> find(std::string_view name) const;
    std::uint64_t version() const;
    // The changes after `version`, oldest first; nullopt when some of them are no longer kept.
    std::optional<std::vector<snapshot_change>> changes_since(std::uint64_t version) const;

    // The node's agent was heard from (a request over its current certificate) at `unix_time`. Kept in memory:
    // heard at once, at no cost to the disk, and forgotten by a restart until the agent speaks again.
    void seen(std::string_view name, std::int64_t unix_time);
    // Coordinators sharing a registry pass these on (etcd_presence.hpp): the nodes heard from here since the last
    // call, with when, and the times another coordinator heard from a node, which count as seen() does.
    std::vector<std::pair<std::string, std::int64_t>> heard_here_since_last();
    void heard_elsewhere(std::string_view name, std::int64_t unix_time);
    // The entry's JSON with the last time its agent was heard from written in.
    std::string json_of(const snapshot_entry& entry) const;

    // `wake` is called, on the changing thread, after every change until the returned handle is dropped. It must
    // not call back into the snapshot; it posts to wherever the watcher runs.
    using subscription = std::shared_ptr<std::function<void()>>;
    subscription subscribe(std::function<void()> wake) const;

private:
    void apply(const std::string& name, std::shared_ptr<const snapshot_entry> entry);  // holds mutex_
    // Asks the registry whether another process wrote to it, and reloads if so: whether it did, or nullopt when
    // the registry could not be asked without waiting.
    std::optional<bool> look(bool wait);
    void notify();
    void note_seen(std::string_view name, std::int64_t unix_time, bool here);

    node_registry& registry_;
    bool readiness_tracked_;
    std::size_t kept_changes_;
    // A reload at a time, excluding refreshes; refreshes of different nodes side by side (a registry in etcd answers
    // each read over the network), of one node one at a time.
    std::shared_mutex refresh_mutex_;
    std::array<std::mutex, 64> node_mutexes_;
    std::int64_t delta_revision_ = 0;  // the store's revision the snapshot holds every change up to (etcd); 0: none
    mutable std::shared_mutex mutex_;
    std::map<std::string, std::shared_ptr<const snapshot_entry>, std::less<>> nodes_;
    std::deque<snapshot_change> changes_;
    std::uint64_t version_ = 0;
    std::optional<std::int64_t> data_version_;
    std::atomic<std::int64_t> confirmed_at_{0};  // steady clock, nanoseconds
    mutable std::mutex seen_mutex_;
    std::map<std::string, std::int64_t, std::less<>> seen_;
    std::map<std::string, std::int64_t, std::less<>> heard_here_;  // seen_'s own since heard_here_since_last()
    mutable std::mutex watchers_mutex_;
    mutable std::vector<std::weak_ptr<std::function<void()>>> watchers_;
};

// A node_registry that passes everything to another and keeps a snapshot current with each write.
class snapshotting_registry final : public node_registry {
public:
    snapshotting_registry(node_registry& inner, node_snapshot& snapshot) : inner_(inner), snapshot_(snapshot) {}

    void add_token(const stored_token& token) override { inner_.add_token(token); }
    std::vector<stored_token> tokens() override { return inner_.tokens(); }
    bool revoke_token(const std::string& id, std::int64_t now) override { return inner_.revoke_token(id, now); }
    std::size_t purge_tokens(std::int64_t before) override { return inner_.purge_tokens(before); }
    enrollment_result enroll(const enrollment& request) override;
    std::optional<node_record> find(const std::string& name) override { return inner_.find(name); }
    std::vector<node_record> list() override { return inner_.list(); }
    bool record_phase(const std::string& name, std::string_view phase, std::string_view reason,
                      const std::optional<std::string>& address, std::int64_t now,
                      const std::optional<std::string>& readiness = std::nullopt) override;
    bool record_join(const std::string& name, const std::string& display_command, std::int64_t issued_at,
                     std::optional<std::int64_t> expires_at, const std::string& credential = {}) override;
    bool clear_join_credential(const std::string& name, const std::string& credential) override;
    std::string renew(const std::string& name, std::int64_t now,
                      const std::function<std::pair<std::string, std::string>()>& issue) override;
    bool promote_certificate(const std::string& name, const std::string& serial) override;
    bool approve(const std::string& name, std::int64_t now) override;
    bool deny(const std::string& name, std::int64_t now) override;
    bool allow_replacement(const std::string& name) override;
    bool remove(const std::string& name) override;
    std::vector<std::tuple<std::string, std::string, std::int64_t>> history(const std::string& name) override {
        return inner_.history(name);
    }
    bool record_steps(const std::string& name, const std::string& steps_json) override {
        return inner_.record_steps(name, steps_json);
    }
    bool add_journal(const std::string& name, const std::vector<stored_excerpt>& excerpts, std::size_t keep) override {
        return inner_.add_journal(name, excerpts, keep);
    }
    std::vector<stored_excerpt> journal(const std::string& name) override { return inner_.journal(name); }
    std::optional<std::int64_t> data_version(bool wait) override { return inner_.data_version(wait); }

private:
    // Reads `name` into the snapshot after a write that `changed` it; returns `changed`.
    bool refreshed(const std::string& name, bool changed);

    node_registry& inner_;
    node_snapshot& snapshot_;
};

}  // namespace graft::coordinator
