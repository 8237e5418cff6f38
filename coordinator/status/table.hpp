#pragma once
// The operator's view of the fleet as text: one row per node, the way `kubectl get nodes` shows them.

#include "proto/messages.hpp"
#include "proto/time.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace graft::coordinator {

// Rows of cells in aligned columns, three spaces apart. Every cell is escaped for the terminal. With `wrap_at`, the
// last column is wrapped at spaces so no line passes that many columns, its continuation lines starting under it.
std::string format_table(std::vector<std::vector<std::string>> rows, std::size_t wrap_at = 0);
// `text`, escaped for the terminal, wrapped at spaces within `width` columns; the lines after the first are
// indented by `indent` (the label the first one follows).
std::string wrap_text(std::string_view text, std::size_t indent, std::size_t width);
// The node table of `get nodes`: it fits `width` columns, cutting long reasons (and saying so under it); `wide` adds
// model, architecture and join columns and cuts nothing.
std::string format_status_table(const std::vector<proto::node_status>& nodes, proto::clock::time_point now,
                                bool wide = false, std::size_t width = 120);
// One or two lines on the Kubernetes API server, from the "cluster" object of GET /v1/nodes.
std::string format_cluster_summary(const proto::json& cluster);

}  // namespace graft::coordinator
