#pragma once
// What coordinators sharing an etcd registry tell each other beside the registry: operators' journal requests and
// when each node's agent was last heard from. Both are worth minutes, not history, so they stay out of the node's
// record (a heartbeat does not rewrite it). Under the deployment's prefix:
//   journal-requests/NAME/ID   a request (JSON: unit, lines, asked_by, asked_at, state), under a lease of
//                              journal_requests::kept_seconds, so etcd forgets it when it is no longer worth anything
//   seen/NAME                  when a coordinator last heard from NAME's agent, in unix seconds
// A node's agent heartbeats to whichever coordinator it reaches; an operator may ask another. With both kept here,
// `logs --fresh` and LAST-SEEN are the same whichever coordinator is asked. Removing a node removes its keys.

#include "coordinator/status/journal_requests.hpp"
#include "coordinator/store/etcd.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace graft::coordinator {

// Journal requests in etcd. The bound of `max_pending` holds for one coordinator asking at a time; two asking at the
// same moment may each add one more.
std::unique_ptr<journal_requests> open_etcd_journal_requests(etcd_options options, std::string prefix);

// Last-seen times passed between coordinators.
class shared_last_seen {
public:
    using heard = std::vector<std::pair<std::string, std::int64_t>>;  // node, unix time

    shared_last_seen(etcd_options options, std::string prefix);
    ~shared_last_seen();
    shared_last_seen(const shared_last_seen&) = delete;
    shared_last_seen& operator=(const shared_last_seen&) = delete;

    // Writes when this coordinator heard from `here`, and returns every time written since the last exchange (by
    // any coordinator, this one's own included; all of them on the first). Throws etcd_unavailable.
    heard exchange(const heard& here);

private:
    std::unique_ptr<etcd_client> etcd_;
    std::string prefix_;
    std::int64_t revision_ = 0;  // every write up to this revision has been read
};

}  // namespace graft::coordinator
