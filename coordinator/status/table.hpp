#pragma once
// The operator's view of the fleet as text: one row per node, the way `kubectl get nodes` shows them.

#include "proto/messages.hpp"
#include "proto/time.hpp"

#include <string>
#include <vector>

namespace graft::coordinator {

// Rows of cells in aligned columns, three spaces apart. Every cell is escaped for the terminal.
std::string format_table(std::vector<std::vector<std::string>> rows);
// The node table of `get nodes`: it fits `width` columns, cutting long reasons (and saying so under it); `wide` adds
// model, architecture and join columns and cuts nothing.
std::string format_status_table(const std::vector<proto::node_status>& nodes, proto::clock::time_point now,
                                bool wide = false, std::size_t width = 120);
// One or two lines on the Kubernetes API server, from the "cluster" object of GET /v1/nodes.
std::string format_cluster_summary(const proto::json& cluster);

}  // namespace graft::coordinator
