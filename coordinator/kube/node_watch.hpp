#pragma once
// Keeps the coordinator's view of the cluster's Nodes current: list, then watch from the list's resourceVersion
// with bookmarks; on a stream the server ends, watch again from the last version seen; on 410 Gone (the version
// was compacted away), list afresh; on any failure, reconnect with backoff. Every problem goes to the journal and
// to cluster_health. Runs as a coroutine until its executor stops.

#include "coordinator/kube/client.hpp"
#include "coordinator/kube/cluster_health.hpp"
#include "coordinator/kube/readiness.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>

namespace graft::coordinator {

struct node_watch_settings {
    std::chrono::seconds watch_timeout{300};  // asked of the server (timeoutSeconds); it ends the stream then
    std::chrono::milliseconds backoff_initial{1000};
    std::chrono::milliseconds backoff_cap{30000};
};

boost::asio::awaitable<void> watch_nodes(kube_connection& kube, readiness_tracker& tracker, cluster_health& health,
                                         node_watch_settings settings);

}  // namespace graft::coordinator
