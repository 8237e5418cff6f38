#pragma once
// A node's phases, said once: their names, who may set each one, and which moves are allowed. The agent reports its
// own progress; the coordinator records enrollment decisions; the cluster alone says whether a Node is Ready, NotReady,
// taken by another machine, or gone. Everything that changes a phase asks may_move() first.

#include <optional>
#include <string_view>

namespace graft::proto {

// Where a node is in its life, in order; failed, pending_approval (its enrollment waits for an operator), deleted
// (its Node object was deleted from the cluster) and denied (an operator refused its enrollment) stand outside the order.
enum class phase { flashed, booted, enrolled, configuring, rebooting, configured, joining, joined, ready, failed, pending_approval,
                   deleted, denied };

// Who is speaking when a phase changes.
enum class phase_source {
    node,         // the agent, over the node's own certificate
    coordinator,  // enrollment, and an operator's decisions
    cluster,      // the Node watch: the Kubernetes API's word
};

std::string_view to_string(phase p);
std::optional<phase> phase_from_string(std::string_view text);
std::string_view to_string(phase_source s);

// Whether `source` may ever set `to`: a node only its own progress (booted to joined, and failed); the coordinator
// flashed, enrolled, pending_approval and denied; the cluster ready, joined (NotReady), failed (another machine's
// Node of that name) and deleted.
bool may_set(phase_source source, phase to);

// Whether `source` may move a node from `from` to `to` now. `cluster_has_spoken` is true once the cluster has said
// the Node is Ready or NotReady: a node's own `joined` does not overwrite that word. A deleted or denied node, or one
// waiting for approval, changes only by the coordinator's or the cluster's doing.
bool may_move(phase from, phase to, phase_source source, bool cluster_has_spoken);

}  // namespace graft::proto
