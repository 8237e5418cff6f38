#include "coordinator/store/leader_election.hpp"

#include "proto/log.hpp"

namespace graft::coordinator {

namespace {

// Requests of the election must answer quickly, whatever the registry's: one try of each member, a second each.
etcd_options quick(etcd_options options) {
    options.timeout = std::chrono::seconds(1);
    options.rounds = 1;
    return options;
}

}  // namespace

leader_election::leader_election(etcd_options options, std::string key, std::string identity,
                                 std::function<void(bool)> on_change, std::chrono::seconds ttl)
    : etcd_(quick(std::move(options))), key_(std::move(key)), identity_(std::move(identity)), on_change_(std::move(on_change)),
      ttl_(ttl), thread_([this](std::stop_token stop) { run(stop); }) {}

leader_election::~leader_election() {
    thread_.request_stop();
    wake_.notify_all();
}

std::string leader_election::leader() const {
    std::lock_guard lock(mutex_);
    return leader_;
}

void leader_election::set_leader(std::string leader) {
    std::lock_guard lock(mutex_);
    if (leader != leader_ && !leader.empty() && leader != identity_)
        proto::log_info("the Node watch is led by the coordinator at " + leader);
    leader_ = std::move(leader);
}

bool leader_election::pause(std::stop_token stop, std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, stop, d, [] { return false; });
    return !stop.stop_requested();
}

void leader_election::run(std::stop_token stop) {
    bool warned = false;
    while (!stop.stop_requested()) {
        try {
            const std::int64_t lease = etcd_.lease_grant(ttl_);
            auto holder = etcd_.create(key_, identity_, lease);
            warned = false;
            if (!holder) {
                lead(stop, lease);
                continue;
            }
            etcd_.lease_revoke(lease);
            if (holder->value == identity_ && holder->lease) {
                // Our own key from before (a restart, or a lease this coordinator stopped renewing in time): gone now.
                etcd_.lease_revoke(holder->lease);
                continue;
            }
            set_leader(holder->value);
        } catch (const std::exception& e) {
            if (!warned) proto::log_warning(std::string("the election of the Node watch's leader cannot reach etcd: ") + e.what());
            warned = true;
        }
        pause(stop, std::chrono::seconds(1));
    }
}

void leader_election::lead(std::stop_token stop, std::int64_t lease) {
    set_leader(identity_);
    leading_ = true;
    proto::log_info("this coordinator leads the Node watch now (" + key_ + ")");
    on_change_(true);
    // Renewed every quarter of the lease; given up when no renewal got through for half of it, which leaves the other
    // half for this coordinator to stop acting before another may start.
    auto renewed = std::chrono::steady_clock::now();
    const auto every = std::chrono::duration_cast<std::chrono::milliseconds>(ttl_) / 4;
    bool lost = false;
    while (pause(stop, every)) {
        try {
            if (!etcd_.lease_keepalive(lease)) {
                lost = true;
                break;
            }
            renewed = std::chrono::steady_clock::now();
        } catch (const std::exception&) {
        }
        if (std::chrono::steady_clock::now() - renewed > ttl_ / 2) {
            lost = true;
            break;
        }
    }
    leading_ = false;
    on_change_(false);
    if (lost) {
        proto::log_warning("this coordinator no longer leads the Node watch: its lease in etcd could not be renewed in time");
        return;
    }
    try {
        etcd_.lease_revoke(lease);  // stopping: the next coordinator need not wait for the lease to run out
    } catch (const std::exception&) {
    }
}

}  // namespace graft::coordinator
