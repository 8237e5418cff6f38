#pragma once
// The one way a node's phase changes, whoever changes it: the move is checked against the phase table
// (proto/phases.hpp), recorded in the registry with its history row, and written to the journal, so the registry's
// history and the journal's tell the same story.

#include "coordinator/store/registry.hpp"
#include "proto/phases.hpp"

#include <optional>
#include <string>

namespace graft::coordinator {

struct phase_change {
    std::string name;
    proto::phase to = proto::phase::booted;
    proto::phase_source by = proto::phase_source::node;
    std::string reason;
    std::optional<std::string> address = {};
    // The cluster's word on the Node ("Ready", "NotReady"; "" once it is gone), from the Node watch; nullopt: unchanged.
    std::optional<std::string> readiness = {};
};

enum class change_outcome { unknown_node, refused, unchanged, changed };

struct change_result {
    change_outcome outcome = change_outcome::unknown_node;
    std::optional<node_record> node;  // as it is afterwards (or as it stays, when refused)
};

change_result change_phase(node_registry& registry, const phase_change& change, std::int64_t now);

}  // namespace graft::coordinator
