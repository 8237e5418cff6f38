#include "coordinator/status/node_snapshot.hpp"

#include <algorithm>
#include <chrono>

namespace graft::coordinator {
namespace {

std::string format_time(std::optional<std::int64_t> unix_seconds) {
    return unix_seconds ? proto::to_rfc3339(proto::from_unix(*unix_seconds)) : std::string();
}

std::shared_ptr<const snapshot_entry> render(const node_record& n, bool readiness_tracked) {
    // Text from nodes (a reason, a model) may not be UTF-8, which JSON cannot carry: such bytes become U+FFFD.
    return std::make_shared<const snapshot_entry>(snapshot_entry{
        n.name, n.phase,
        node_status_of(n, readiness_tracked).to_json().dump(-1, ' ', false, proto::json::error_handler_t::replace),
        n.reason, n.address, n.certificate_serial, n.pending_serial});
}

}  // namespace

proto::node_status node_status_of(const node_record& n, bool readiness_tracked) {
    proto::node_status s;
    s.name = n.name;
    s.phase = n.phase;
    s.reason = n.reason;
    s.address = n.address;
    s.model = n.model;
    s.arch = n.arch;
    s.enrolled_at = format_time(n.enrolled_at);
    s.updated_at = format_time(n.updated_at);
    s.join_command = n.join_command;
    s.join_issued_at = format_time(n.join_issued_at);
    s.readiness_tracked = readiness_tracked;
    s.conflict = n.conflict;
    s.readiness = n.readiness;
    return s;
}

std::string_view to_string(change_kind kind) {
    switch (kind) {
    case change_kind::added: return "ADDED";
    case change_kind::modified: return "MODIFIED";
    case change_kind::deleted: return "DELETED";
    }
    return "MODIFIED";
}

node_snapshot::node_snapshot(node_registry& registry, bool readiness_tracked, std::size_t kept_changes)
    : registry_(registry), readiness_tracked_(readiness_tracked), kept_changes_(std::max<std::size_t>(kept_changes, 1)) {
    data_version_ = registry_.data_version();
    if (auto all = registry_.changed_since(0)) {
        for (const auto& n : all->changed) nodes_.emplace(n.name, render(n, readiness_tracked_));
        delta_revision_ = all->revision;
    } else {
        for (const auto& n : registry_.list()) nodes_.emplace(n.name, render(n, readiness_tracked_));
    }
}

void node_snapshot::apply(const std::string& name, std::shared_ptr<const snapshot_entry> entry) {
    auto it = nodes_.find(name);
    snapshot_change change;
    if (!entry) {
        if (it == nodes_.end()) return;
        change.kind = change_kind::deleted;
        change.node = it->second;
        nodes_.erase(it);
        std::lock_guard forget(seen_mutex_);
        if (auto seen = seen_.find(name); seen != seen_.end()) seen_.erase(seen);
        if (auto mine = heard_here_.find(name); mine != heard_here_.end()) heard_here_.erase(mine);
    } else if (it == nodes_.end()) {
        change.kind = change_kind::added;
        change.node = entry;
        nodes_.emplace(name, std::move(entry));
    } else {
        const auto& was = *it->second;
        if (was.json == entry->json && was.certificate_serial == entry->certificate_serial &&
            was.pending_serial == entry->pending_serial)
            return;  // a write that changed nothing the status shows
        change.kind = change_kind::modified;
        change.previous_phase = it->second->phase;
        change.node = entry;
        it->second = std::move(entry);
    }
    change.version = ++version_;
    changes_.push_back(std::move(change));
    while (changes_.size() > kept_changes_) changes_.pop_front();
}

void node_snapshot::seen(std::string_view name, std::int64_t unix_time) { note_seen(name, unix_time, true); }

void node_snapshot::heard_elsewhere(std::string_view name, std::int64_t unix_time) {
    note_seen(name, unix_time, false);
}

void node_snapshot::note_seen(std::string_view name, std::int64_t unix_time, bool here) {
    // Only nodes there are: a deleted node's old certificate adds nothing to remember.
    std::shared_lock known(mutex_);
    if (!nodes_.contains(name)) return;
    std::lock_guard lock(seen_mutex_);
    auto it = seen_.find(name);
    if (it == seen_.end()) seen_.emplace(std::string(name), unix_time);
    else it->second = std::max(it->second, unix_time);
    if (!here) return;
    auto mine = heard_here_.find(name);
    if (mine == heard_here_.end()) heard_here_.emplace(std::string(name), unix_time);
    else mine->second = std::max(mine->second, unix_time);
}

std::vector<std::pair<std::string, std::int64_t>> node_snapshot::heard_here_since_last() {
    std::map<std::string, std::int64_t, std::less<>> taken;
    {
        std::lock_guard lock(seen_mutex_);
        taken.swap(heard_here_);
    }
    return {taken.begin(), taken.end()};
}

std::string node_snapshot::json_of(const snapshot_entry& entry) const {
    std::int64_t at = 0;
    {
        std::lock_guard lock(seen_mutex_);
        if (auto it = seen_.find(entry.name); it != seen_.end()) at = it->second;
    }
    // The rendered JSON says "last_seen":"" (node_status_of knows nothing of it); the key cannot occur unescaped
    // inside a string value, so the first match is the field.
    constexpr std::string_view blank = "\"last_seen\":\"\"";
    const auto where = entry.json.find(blank);
    if (at == 0 || where == std::string::npos) return entry.json;
    std::string out = entry.json;
    out.insert(where + blank.size() - 1, proto::to_rfc3339(proto::from_unix(at)));
    return out;
}

void node_snapshot::refresh(const std::string& name) {
    // Read and apply in one step, so that of two writers of a node the one reading last also applies last.
    std::shared_lock no_reload(refresh_mutex_);
    std::lock_guard refreshing(node_mutexes_[std::hash<std::string>{}(name) % node_mutexes_.size()]);
    auto node = registry_.find(name);
    auto entry = node ? render(*node, readiness_tracked_) : nullptr;
    std::uint64_t before, after;
    {
        std::unique_lock lock(mutex_);
        before = version_;
        apply(name, std::move(entry));
        after = version_;
    }
    if (after != before) notify();
}

void node_snapshot::reload() {
    std::lock_guard refreshing(refresh_mutex_);
    // From a store that says what changed (etcd): only those nodes, unless one is gone, which takes the full read.
    if (delta_revision_) {
        if (auto delta = registry_.changed_since(delta_revision_)) {
            std::uint64_t before, after;
            bool complete;
            {
                std::unique_lock lock(mutex_);
                before = version_;
                for (const auto& n : delta->changed) apply(n.name, render(n, readiness_tracked_));
                after = version_;
                complete = nodes_.size() == delta->total;
            }
            if (complete) delta_revision_ = delta->revision;
            if (after != before) notify();
            if (complete) return;
        }
    }
    std::map<std::string, std::shared_ptr<const snapshot_entry>, std::less<>> fresh;
    if (auto all = registry_.changed_since(0)) {
        for (const auto& n : all->changed) fresh.emplace(n.name, render(n, readiness_tracked_));
        delta_revision_ = all->revision;
    } else {
        for (const auto& n : registry_.list()) fresh.emplace(n.name, render(n, readiness_tracked_));
    }
    std::uint64_t before, after;
    {
        std::unique_lock lock(mutex_);
        before = version_;
        std::vector<std::string> gone;
        for (const auto& [name, entry] : nodes_)
            if (!fresh.contains(name)) gone.push_back(name);
        for (const auto& name : gone) apply(name, nullptr);
        for (auto& [name, entry] : fresh) apply(name, std::move(entry));
        after = version_;
    }
    if (after != before) notify();
}

std::optional<bool> node_snapshot::look(bool wait) {
    const auto seen = registry_.data_version(wait);
    if (!seen) return std::nullopt;
    {
        std::lock_guard refreshing(refresh_mutex_);
        if (seen == data_version_) return false;
        data_version_ = seen;
    }
    reload();
    return true;
}

bool node_snapshot::confirm_current() {
    const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    if (now - confirmed_at_.load(std::memory_order_acquire) < 1'000'000) return true;
    if (!look(false)) return false;
    confirmed_at_.store(now, std::memory_order_release);
    return true;
}

bool node_snapshot::reload_if_changed(bool wait) { return look(wait).value_or(false); }

node_snapshot::page node_snapshot::list(std::string_view phase, std::string_view after, std::size_t limit) const {
    page out;
    std::shared_lock lock(mutex_);
    out.version = version_;
    auto it = after.empty() ? nodes_.begin() : nodes_.upper_bound(after);
    for (; it != nodes_.end(); ++it) {
        if (!phase.empty() && it->second->phase != phase) continue;
        if (out.nodes.size() == limit) {
            out.next = out.nodes.back()->name;
            break;
        }
        out.nodes.push_back(it->second);
    }
    return out;
}

std::shared_ptr<const snapshot_entry> node_snapshot::find(std::string_view name) const {
    std::shared_lock lock(mutex_);
    auto it = nodes_.find(name);
    return it == nodes_.end() ? nullptr : it->second;
}

std::uint64_t node_snapshot::version() const {
    std::shared_lock lock(mutex_);
    return version_;
}

std::optional<std::vector<snapshot_change>> node_snapshot::changes_since(std::uint64_t version) const {
    std::shared_lock lock(mutex_);
    if (version >= version_) return std::vector<snapshot_change>{};
    // The oldest kept change must be the one right after `version`, or some are lost.
    if (changes_.empty() || changes_.front().version > version + 1) return std::nullopt;
    std::vector<snapshot_change> out;
    for (const auto& c : changes_)
        if (c.version > version) out.push_back(c);
    return out;
}

node_snapshot::subscription node_snapshot::subscribe(std::function<void()> wake) const {
    auto handle = std::make_shared<std::function<void()>>(std::move(wake));
    std::lock_guard lock(watchers_mutex_);
    std::erase_if(watchers_, [](const auto& w) { return w.expired(); });
    watchers_.push_back(handle);
    return handle;
}

void node_snapshot::notify() {
    std::vector<std::shared_ptr<std::function<void()>>> live;
    {
        std::lock_guard lock(watchers_mutex_);
        for (const auto& w : watchers_)
            if (auto s = w.lock()) live.push_back(std::move(s));
    }
    for (const auto& wake : live) (*wake)();
}

bool snapshotting_registry::refreshed(const std::string& name, bool changed) {
    if (changed) snapshot_.refresh(name);
    return changed;
}

enrollment_result snapshotting_registry::enroll(const enrollment& request) {
    auto result = inner_.enroll(request);
    if (!result.node.name.empty()) snapshot_.refresh(result.node.name);
    return result;
}

bool snapshotting_registry::record_phase(const std::string& name, std::string_view phase, std::string_view reason,
                                         const std::optional<std::string>& address, std::int64_t now,
                                         const std::optional<std::string>& readiness) {
    return refreshed(name, inner_.record_phase(name, phase, reason, address, now, readiness));
}

bool snapshotting_registry::record_join(const std::string& name, const std::string& display_command,
                                        std::int64_t issued_at, std::optional<std::int64_t> expires_at,
                                        const std::string& credential) {
    return refreshed(name, inner_.record_join(name, display_command, issued_at, expires_at, credential));
}

bool snapshotting_registry::clear_join_credential(const std::string& name, const std::string& credential) {
    return refreshed(name, inner_.clear_join_credential(name, credential));
}

std::string snapshotting_registry::renew(const std::string& name, std::int64_t now,
                                         const std::function<std::pair<std::string, std::string>()>& issue) {
    auto pem = inner_.renew(name, now, issue);
    if (!pem.empty()) snapshot_.refresh(name);  // the pending serial: the status does not show it, reports check it
    return pem;
}

bool snapshotting_registry::promote_certificate(const std::string& name, const std::string& serial) {
    return refreshed(name, inner_.promote_certificate(name, serial));
}

bool snapshotting_registry::approve(const std::string& name, std::int64_t now) {
    return refreshed(name, inner_.approve(name, now));
}

bool snapshotting_registry::deny(const std::string& name, std::int64_t now) {
    return refreshed(name, inner_.deny(name, now));
}

bool snapshotting_registry::allow_replacement(const std::string& name) {
    return refreshed(name, inner_.allow_replacement(name));
}

bool snapshotting_registry::remove(const std::string& name) {
    return refreshed(name, inner_.remove(name));
}

}  // namespace graft::coordinator
