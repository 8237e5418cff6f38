#pragma once
// Turns what the cluster says of its Nodes into graft's node phases: a Node whose Ready condition is True makes its
// graft node ready (and the node's join credential is revoked: it has done its job); Ready False or Unknown keeps
// it joined, with the condition's reason and message ("container runtime network not ready ... cni plugin not
// initialized" until a network plugin runs); a deleted Node shows as deleted. Nodes graft did not enroll are ignored.
// A Node is the graft node's only if it is the same machine: kubelet publishes the machine-id it runs on in
// status.nodeInfo.machineID, and a Node of that name whose machine-id is not the enrolled one is a conflict (the
// graft node fails, saying so and what to do; nothing is revoked for it), never a false ready.
// observed/deleted/listed are called from the one watch thread; in_cluster from any.

#include "coordinator/join/backend.hpp"
#include "coordinator/store/registry.hpp"
#include "proto/json_fields.hpp"
#include "proto/phases.hpp"
#include "proto/time.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace graft::coordinator {

struct node_readiness {
    std::string name;
    std::string ready = "Unknown";  // the Ready condition's status: True, False or Unknown (also when absent)
    std::string reason;
    std::string message;
    std::string machine_id = {};    // status.nodeInfo.machineID, "" when the Node does not say
    std::string system_uuid = {};   // status.nodeInfo.systemUUID (the firmware's, from DMI), "" when it does not say
};

// Reads a Node object; throws proto::validation_error when it has no metadata.name or malformed conditions.
node_readiness read_node_readiness(const proto::json& node);

class readiness_tracker {
public:
    readiness_tracker(node_registry& registry, join_backend& joins,
                      std::function<proto::clock::time_point()> now = [] { return proto::clock::now(); });

    void observed(const node_readiness& node);
    void deleted(const std::string& name);
    // A full list: graft nodes seen in the cluster before, or ready in the registry, that are missing were deleted.
    void listed(const std::vector<node_readiness>& nodes);
    // Whether the cluster has a Node of that name, graft's or not (so enrollment never hands that name out).
    bool in_cluster(const std::string& name) const;
    // With several coordinators only the elected one acts on what it observes (phases, revocations); the others
    // stand by, keeping what they observe. stand_by() may be called from any thread; take_over(), which acts on all
    // that was observed as a fresh list would, from the watch thread. Acting is the default.
    void stand_by() { acting_ = false; }
    void take_over();

private:
    // The cluster's word, through change_phase(); `readiness` is the Node's Ready condition in words, when it has one.
    void record(const std::string& name, proto::phase phase, const std::string& reason, std::optional<std::string> readiness);
    void revoke_credential(const node_record& node);

    node_registry& registry_;
    join_backend& joins_;
    std::function<proto::clock::time_point()> now_;
    std::set<std::string> in_cluster_;
    mutable std::mutex names_mutex_;
    std::set<std::string> cluster_names_;  // every Node's name, guarded by names_mutex_
    std::atomic<bool> acting_ = true;
    std::map<std::string, node_readiness> seen_;  // every Node as last observed
    bool listed_once_ = false;  // whether seen_ holds a list yet (before, an empty one would look like every Node gone)
};

}  // namespace graft::coordinator
