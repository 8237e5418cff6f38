#pragma once
// The operator's view of the fleet as text: one row per node, the way `kubectl get nodes` shows them.

#include "proto/messages.hpp"
#include "proto/time.hpp"

#include <string>
#include <vector>

namespace graft::coordinator {

std::string format_status_table(const std::vector<proto::node_status>& nodes, proto::clock::time_point now);

}  // namespace graft::coordinator
