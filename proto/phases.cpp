#include "proto/phases.hpp"

#include <array>

namespace graft::proto {
namespace {

struct phase_row {
    phase id;
    std::string_view name;
    phase_source set_by;
    bool also_cluster = false;  // failed: the agent's failures, and the cluster's "another machine has this name"
};

// The one table of phases, in the enum's order.
constexpr std::array<phase_row, 13> phases{{
    {phase::flashed, "flashed", phase_source::coordinator},
    {phase::booted, "booted", phase_source::node},
    {phase::enrolled, "enrolled", phase_source::coordinator},
    {phase::configuring, "configuring", phase_source::node},
    {phase::rebooting, "rebooting", phase_source::node},
    {phase::configured, "configured", phase_source::node},
    {phase::joining, "joining", phase_source::node},
    {phase::joined, "joined", phase_source::node, true},  // the node says it joined; the cluster says NotReady
    {phase::ready, "ready", phase_source::cluster},
    {phase::failed, "failed", phase_source::node, true},
    {phase::pending_approval, "pending_approval", phase_source::coordinator},
    {phase::deleted, "deleted", phase_source::cluster},
    {phase::denied, "denied", phase_source::coordinator},
}};

const phase_row& row(phase p) { return phases.at(static_cast<std::size_t>(p)); }

}  // namespace

std::string_view to_string(phase p) { return row(p).name; }

std::optional<phase> phase_from_string(std::string_view text) {
    for (const auto& r : phases)
        if (r.name == text) return r.id;
    return std::nullopt;
}

std::string_view to_string(phase_source s) {
    switch (s) {
    case phase_source::node: return "node";
    case phase_source::coordinator: return "coordinator";
    case phase_source::cluster: return "cluster";
    }
    return "unknown";
}

bool may_set(phase_source source, phase to) {
    const auto& r = row(to);
    if (r.set_by == source) return true;
    return r.also_cluster && source == phase_source::cluster;
}

bool may_move(phase from, phase to, phase_source source, bool cluster_has_spoken) {
    if (!may_set(source, to)) return false;
    if (source != phase_source::node) return true;
    // A node speaks only for itself while it is one of the coordinator's nodes in good standing.
    if (from == phase::deleted || from == phase::denied || from == phase::pending_approval) return false;
    // Whether a joined node is Ready is the cluster's word, which the node's own report does not overwrite.
    if (to == phase::joined && (from == phase::ready || cluster_has_spoken)) return false;
    return true;
}

}  // namespace graft::proto
