#include "coordinator/status/table.hpp"

#include "proto/log.hpp"

#include <algorithm>
#include <array>

namespace graft::coordinator {

std::string format_table(std::vector<std::vector<std::string>> rows) {
    std::vector<std::size_t> width;
    // Cells may hold text from outside (what nodes reported): none may carry a control character to the terminal.
    for (auto& r : rows)
        for (auto& cell : r) cell = proto::escape_for_display(cell);
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i) width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 3, ' ');
        }
        out += line + "\n";
    }
    return out;
}

std::string format_status_table(const std::vector<proto::node_status>& nodes, proto::clock::time_point now) {
    std::vector<std::vector<std::string>> rows{{"NAME", "PHASE", "ADDRESS", "AGE", "JOIN-ISSUED", "JOIN COMMAND"}};
    auto age = [&](const std::string& when) -> std::string {
        auto t = proto::from_rfc3339(when);
        if (!t) return "-";
        return proto::short_age(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
    };
    // A table row stays readable; `status --json` has the whole text.
    auto shortened = [](std::string text) { return text.size() > 72 ? text.substr(0, 69) + "..." : text; };
    for (const auto& n : nodes) {
        std::string phase = n.phase;
        if (!n.reason.empty() && n.phase != "ready") phase += " (" + shortened(n.reason) + ")";
        if (!n.conflict.empty()) phase += " CONFLICT: " + shortened(n.conflict);
        rows.push_back({n.name, phase, n.address.empty() ? "-" : n.address, age(n.enrolled_at),
                        n.join_issued_at.empty() ? "-" : age(n.join_issued_at) + " ago",
                        n.join_command.empty() ? "-" : n.join_command});
    }
    std::string out = format_table(std::move(rows));
    if (nodes.empty()) out += "(no nodes have enrolled yet)\n";
    return out;
}

std::string format_cluster_summary(const proto::json& cluster) {
    auto field = [&](const char* key) {
        return cluster.contains(key) && cluster[key].is_string() ? proto::escape_for_display(cluster[key].get<std::string>())
                                                                 : std::string();
    };
    std::string out = "cluster: " + field("state");
    if (!field("version").empty()) out += ", Kubernetes " + field("version");
    out += " (" + field("kubeconfig") + ")\n";
    if (!field("last_error").empty()) out += "last cluster error at " + field("last_error_at") + ": " + field("last_error") + "\n";
    return out + "\n";
}

}  // namespace graft::coordinator
