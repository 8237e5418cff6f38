#include "coordinator/kube/readiness.hpp"

#include "coordinator/status/metrics.hpp"

#include "coordinator/store/phase_change.hpp"
#include "proto/log.hpp"
#include "proto/message_ids.hpp"

#include <cctype>

namespace graft::coordinator {

node_readiness read_node_readiness(const proto::json& node) {
    if (!node.is_object()) throw proto::validation_error("object", "a Node is a JSON object");
    node_readiness r;
    const auto meta = node.find("metadata");
    if (meta == node.end() || !meta->is_object() || !meta->contains("name") || !(*meta)["name"].is_string())
        throw proto::validation_error("object.metadata.name", "missing; not a Node");
    r.name = (*meta)["name"].get<std::string>();
    const auto status = node.find("status");
    if (status == node.end() || !status->is_object()) return r;
    if (auto info = status->find("nodeInfo"); info != status->end() && info->is_object())
    {
        if (auto id = info->find("machineID"); id != info->end() && id->is_string()) r.machine_id = id->get<std::string>();
        if (auto id = info->find("systemUUID"); id != info->end() && id->is_string()) r.system_uuid = id->get<std::string>();
    }
    if (!status->contains("conditions")) return r;
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

void readiness_tracker::record(const std::string& name, proto::phase phase, const std::string& reason,
                               std::optional<std::string> readiness) {
    phase_change change{name, phase, proto::phase_source::cluster, reason};
    change.readiness = std::move(readiness);
    change_phase(registry_, change, proto::to_unix(now_()));
}

void readiness_tracker::revoke_credential(const node_record& node) {
    if (node.join_credential.empty()) return;
    try {
        joins_.revoke(node.name, node.join_credential);
        registry_.clear_join_credential(node.name, node.join_credential);
        metrics().join_revoked();
        proto::log_info("revoked the join credential " + node.join_credential + " of " + node.name + ": it is Ready",
                        {{"GRAFT_NODE", node.name}, {"GRAFT_CREDENTIAL", node.join_credential}},
                        proto::message_id::join_credential_revoked);
    } catch (const std::exception& e) {
        // Kept in the registry, so the next event about this node tries again; the credential expires regardless.
        proto::log_warning("cannot revoke the join credential of " + node.name + " yet: " + e.what(),
                           {{"GRAFT_NODE", node.name}}, proto::message_id::kube_api_problem);
    }
}

void readiness_tracker::take_over() {
    acting_ = true;
    if (!listed_once_) return;  // the watch's first list is still to come, and will be acted on
    std::vector<node_readiness> nodes;
    for (const auto& [name, node] : seen_) nodes.push_back(node);
    listed(nodes);
}

bool readiness_tracker::in_cluster(const std::string& name) const {
    std::lock_guard lock(names_mutex_);
    return cluster_names_.contains(name);
}

void readiness_tracker::observed(const node_readiness& node) {
    {
        std::lock_guard lock(names_mutex_);
        cluster_names_.insert(node.name);
    }
    seen_[node.name] = node;
    if (!acting_) return;
    auto known = registry_.find(node.name);
    if (!known) return;
    in_cluster_.insert(node.name);
    // /etc/machine-id and kubelet's machineID are the same 32 hex digits; compare without regard to case.
    auto lower = [](std::string s) {
        for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
    };
    // The firmware's system UUID too, where both the Node and the enrollment have one (x86 boards with DMI).
    std::string enrolled_uuid;
    try {
        if (auto uuid = proto::hardware_facts::from_json(proto::parse_json(known->facts_json)).system_uuid) enrolled_uuid = *uuid;
    } catch (const std::exception&) {
    }
    const bool other_machine_id = !node.machine_id.empty() && !known->machine_id.empty() &&
                                  lower(node.machine_id) != lower(known->machine_id);
    const bool other_uuid = !node.system_uuid.empty() && !enrolled_uuid.empty() &&
                            lower(node.system_uuid) != lower(enrolled_uuid);
    if (other_machine_id || other_uuid) {
        const std::string theirs = other_machine_id ? "machineID is " + node.machine_id : "systemUUID is " + node.system_uuid;
        const std::string ours = other_machine_id ? known->machine_id : enrolled_uuid;
        record(node.name, proto::phase::failed,
               "the cluster already has a Node named " + node.name + " on another machine (its " + theirs +
                   ", this node's is " + ours + "); kubeadm will not join over it. If that "
                   "machine is gone, `kubectl delete node " + node.name + "` and restart graft-agent on this node; if it is "
                   "not, rename or remove one of them",
               std::nullopt);
        return;
    }
    if (node.ready == "True") {
        record(node.name, proto::phase::ready, "", "Ready");
        revoke_credential(*registry_.find(node.name));
        return;
    }
    // Registered but not Ready: joined, with the kubelet's own words for why not.
    std::string reason = "NotReady";
    if (!node.reason.empty()) reason += ": " + node.reason;
    if (!node.message.empty()) reason += ": " + node.message;
    if (reason.size() > 512) reason.resize(512);
    record(node.name, proto::phase::joined, reason, "NotReady");
}

void readiness_tracker::deleted(const std::string& name) {
    {
        std::lock_guard lock(names_mutex_);
        cluster_names_.erase(name);
    }
    seen_.erase(name);
    if (!acting_) return;
    in_cluster_.erase(name);
    auto known = registry_.find(name);
    if (!known || known->phase == "deleted") return;
    record(name, proto::phase::deleted, "its Node object was deleted from the cluster; graft does not join it again by itself "
                            "(on the node: kubeadm reset -f, move /var/lib/graft aside, put a fresh graft.json on the boot "
                            "partition and restart graft-agent)",
           "");
}

void readiness_tracker::listed(const std::vector<node_readiness>& nodes) {
    std::set<std::string> present;
    for (const auto& n : nodes) present.insert(n.name);
    {
        std::lock_guard lock(names_mutex_);
        cluster_names_ = present;
    }
    seen_.clear();
    for (const auto& n : nodes) seen_[n.name] = n;
    listed_once_ = true;
    if (!acting_) return;
    std::set<std::string> missing;
    for (const auto& name : in_cluster_)
        if (!present.count(name)) missing.insert(name);
    for (const auto& n : registry_.list())
        if (n.phase == "ready" && !present.count(n.name)) missing.insert(n.name);
    for (const auto& name : missing) deleted(name);
    for (const auto& n : nodes) observed(n);
}

}  // namespace graft::coordinator
