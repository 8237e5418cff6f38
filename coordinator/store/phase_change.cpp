#include "coordinator/store/phase_change.hpp"

#include "proto/log.hpp"
#include "proto/message_ids.hpp"

namespace graft::coordinator {

change_result change_phase(node_registry& registry, const phase_change& change, std::int64_t now) {
    change_result result;
    result.node = registry.find(change.name);
    if (!result.node) return result;
    const auto from = proto::phase_from_string(result.node->phase).value_or(proto::phase::booted);
    if (!proto::may_move(from, change.to, change.by, !result.node->readiness.empty())) {
        result.outcome = change_outcome::refused;
        return result;
    }
    const std::string to(proto::to_string(change.to));
    const bool readiness_same = !change.readiness || *change.readiness == result.node->readiness;
    const bool address_same = !change.address || *change.address == result.node->address;
    if (to == result.node->phase && change.reason == result.node->reason && readiness_same && address_same &&
        change.by != proto::phase_source::node) {
        result.outcome = change_outcome::unchanged;
        return result;
    }
    // A node's report is recorded even when nothing changed: its updated_at is when it was last heard from.
    registry.record_phase(change.name, to, change.reason, change.address, now, change.readiness);
    result.outcome = to == result.node->phase ? change_outcome::unchanged : change_outcome::changed;
    if (result.outcome == change_outcome::changed) {
        const bool ready = change.to == proto::phase::ready;
        const bool bad = change.to == proto::phase::failed || change.to == proto::phase::deleted;
        proto::log(bad ? proto::log_level::warning : proto::log_level::info,
                   "node " + change.name + " is " + (ready ? "Ready" : to) + (change.reason.empty() ? "" : ": " + change.reason),
                   {{"GRAFT_NODE", change.name}, {"GRAFT_PHASE", to}, {"GRAFT_SOURCE", std::string(proto::to_string(change.by))}},
                   ready ? proto::message_id::node_ready : proto::message_id::phase_changed);
    }
    result.node = registry.find(change.name);
    return result;
}

}  // namespace graft::coordinator
