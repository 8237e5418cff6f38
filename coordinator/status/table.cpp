#include "coordinator/status/table.hpp"

#include "proto/log.hpp"

#include <algorithm>
#include <array>

namespace graft::coordinator {

std::string format_status_table(const std::vector<proto::node_status>& nodes, proto::clock::time_point now) {
    using row = std::array<std::string, 6>;
    std::vector<row> rows{{"NAME", "PHASE", "ADDRESS", "AGE", "JOIN-ISSUED", "JOIN COMMAND"}};
    auto age = [&](const std::string& when) -> std::string {
        auto t = proto::from_rfc3339(when);
        if (!t) return "-";
        return proto::short_age(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
    };
    for (const auto& n : nodes) {
        std::string phase = n.phase;
        if (!n.reason.empty() && n.phase != "ready") {
            // A table row stays readable; `status --json` has the whole reason.
            std::string reason = n.reason;
            if (reason.size() > 72) reason = reason.substr(0, 69) + "...";
            phase += " (" + reason + ")";
        }
        rows.push_back({n.name, phase, n.address.empty() ? "-" : n.address, age(n.enrolled_at),
                        n.join_issued_at.empty() ? "-" : age(n.join_issued_at) + " ago",
                        n.join_command.empty() ? "-" : n.join_command});
    }
    std::array<std::size_t, 6> width{};
    // What nodes reported is text from outside: no cell may carry a control character to the terminal.
    for (auto& r : rows)
        for (auto& cell : r) cell = proto::escape_for_display(cell);
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 3, ' ');
        }
        out += line + "\n";
    }
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
