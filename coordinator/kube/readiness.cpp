#include "coordinator/kube/readiness.hpp"

#include "proto/log.hpp"
#include "proto/message_ids.hpp"

namespace graft::coordinator {

node_readiness read_node_readiness(const proto::json& node) {
    if (!node.is_object()) throw proto::validation_error("object", "a Node is a JSON object");
    node_readiness r;
    const auto meta = node.find("metadata");
    if (meta == node.end() || !meta->is_object() || !meta->contains("name") || !(*meta)["name"].is_string())
        throw proto::validation_error("object.metadata.name", "missing; not a Node");
    r.name = (*meta)["name"].get<std::string>();
    const auto status = node.find("status");
    if (status == node.end() || !status->contains("conditions")) return r;
    const auto& conditions = (*status)["conditions"];
    if (!conditions.is_array()) throw proto::validation_error("object.status.conditions", "expected a list");
    for (const auto& c : conditions) {
        if (!c.is_object() || !c.contains("type") || !c["type"].is_string() || !c.contains("status") || !c["status"].is_string())
            throw proto::validation_error("object.status.conditions", "a condition without a type or status");
        if (c["type"] != "Ready") continue;
        r.ready = c["status"].get<std::string>();
        if (c.contains("reason") && c["reason"].is_string()) r.reason = c["reason"].get<std::string>();
        if (c.contains("message") && c["message"].is_string()) r.message = c["message"].get<std::string>();
    }
    return r;
}

readiness_tracker::readiness_tracker(node_registry& registry, join_backend& joins,
                                     std::function<proto::clock::time_point()> now)
    : registry_(registry), joins_(joins), now_(std::move(now)) {}

void readiness_tracker::record(const std::string& name, const std::string& phase, const std::string& reason) {
    auto before = registry_.find(name);
    if (!before || (before->phase == phase && before->reason == reason)) return;
    registry_.record_phase(name, phase, reason, std::nullopt, proto::to_unix(now_()));
    if (before->phase != phase) {
        const bool ready = phase == "ready";
        proto::log(phase == "deleted" ? proto::log_level::warning : proto::log_level::info,
                   "node " + name + " is " + (ready ? "Ready" : phase) + (reason.empty() ? "" : ": " + reason),
                   {{"GRAFT_NODE", name}, {"GRAFT_PHASE", phase}},
                   ready ? proto::message_id::node_ready : proto::message_id::phase_changed);
    }
}

void readiness_tracker::revoke_credential(const node_record& node) {
    if (node.join_credential.empty()) return;
    try {
        joins_.revoke(node.name, node.join_credential);
        registry_.clear_join_credential(node.name, node.join_credential);
        proto::log_info("revoked the join credential " + node.join_credential + " of " + node.name + ": it is Ready",
                        {{"GRAFT_NODE", node.name}, {"GRAFT_CREDENTIAL", node.join_credential}},
                        proto::message_id::join_credential_revoked);
    } catch (const std::exception& e) {
        // Kept in the registry, so the next event about this node tries again; the credential expires regardless.
        proto::log_warning("cannot revoke the join credential of " + node.name + " yet: " + e.what(),
                           {{"GRAFT_NODE", node.name}}, proto::message_id::kube_api_problem);
    }
}

void readiness_tracker::observed(const node_readiness& node) {
    auto known = registry_.find(node.name);
    if (!known) return;
    in_cluster_.insert(node.name);
    if (node.ready == "True") {
        record(node.name, "ready", "");
        revoke_credential(*registry_.find(node.name));
        return;
    }
    // Registered but not Ready: joined, with the kubelet's own words for why not.
    std::string reason = "NotReady";
    if (!node.reason.empty()) reason += ": " + node.reason;
    if (!node.message.empty()) reason += ": " + node.message;
    if (reason.size() > 512) reason.resize(512);
    record(node.name, "joined", reason);
}

void readiness_tracker::deleted(const std::string& name) {
    in_cluster_.erase(name);
    auto known = registry_.find(name);
    if (!known || known->phase == "deleted") return;
    record(name, "deleted", "its Node object was deleted from the cluster; graft does not join it again by itself "
                            "(on the node: kubeadm reset -f, move /var/lib/graft aside, put a fresh graft.json on the boot "
                            "partition and restart graft-agent)");
}

void readiness_tracker::listed(const std::vector<node_readiness>& nodes) {
    std::set<std::string> present;
    for (const auto& n : nodes) present.insert(n.name);
    std::set<std::string> missing;
    for (const auto& name : in_cluster_)
        if (!present.count(name)) missing.insert(name);
    for (const auto& n : registry_.list())
        if (n.phase == "ready" && !present.count(n.name)) missing.insert(n.name);
    for (const auto& name : missing) deleted(name);
    for (const auto& n : nodes) observed(n);
}

}  // namespace graft::coordinator
