#include "coordinator/status/table.hpp"

#include "proto/log.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace graft::coordinator {

namespace {

// `text` broken at spaces into lines of at most `room` bytes; a word longer than that is split.
std::vector<std::string> wrap_lines(const std::string& text, std::size_t room) {
    std::vector<std::string> lines;
    std::string piece;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto space = text.find(' ', start);
        std::string word = text.substr(start, space == std::string::npos ? std::string::npos : space - start);
        start = space == std::string::npos ? text.size() : space + 1;
        while (word.size() > room) {
            if (!piece.empty()) lines.push_back(std::move(piece)), piece.clear();
            lines.push_back(word.substr(0, room));
            word = word.substr(room);
        }
        if (!piece.empty() && piece.size() + 1 + word.size() > room) lines.push_back(std::move(piece)), piece.clear();
        piece += (piece.empty() ? "" : " ") + word;
    }
    if (!piece.empty()) lines.push_back(std::move(piece));
    return lines;
}

// The room left for wrapped text that starts `indent` columns in, within `width`.
std::size_t room_after(std::size_t indent, std::size_t width) { return width > indent + 20 ? width - indent : 40; }

// Cells already escaped, in columns three spaces apart. With `wrap_at`, the last column is wrapped so no line
// passes it, its continuation lines starting under it.
std::string align(const std::vector<std::vector<std::string>>& rows, std::size_t wrap_at = 0) {
    std::vector<std::size_t> width;
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i) width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i + 1 < r.size(); ++i) line += r[i] + std::string(width[i] - r[i].size() + 3, ' ');
        if (!r.empty() && wrap_at == 0) line += r.back();
        if (!r.empty() && wrap_at != 0) {
            const std::size_t indent = line.size();
            const auto lines = wrap_lines(r.back(), room_after(indent, wrap_at));
            for (std::size_t i = 0; i < lines.size(); ++i) line += (i ? "\n" + std::string(indent, ' ') : "") + lines[i];
        }
        out += line + "\n";
    }
    return out;
}

void escape_cells(std::vector<std::vector<std::string>>& rows) {
    // Cells may hold text from outside (what nodes reported): none may carry a control character to the terminal.
    for (auto& r : rows)
        for (auto& cell : r) cell = proto::escape_for_display(cell);
}

}  // namespace

std::string format_table(std::vector<std::vector<std::string>> rows, std::size_t wrap_at) {
    escape_cells(rows);
    return align(rows, wrap_at);
}

std::string wrap_text(std::string_view text, std::size_t indent, std::size_t width) {
    std::string out;
    for (const auto& line : wrap_lines(proto::escape_for_display(text), room_after(indent, width)))
        out += (out.empty() ? "" : "\n" + std::string(indent, ' ')) + line;
    return out;
}

std::string format_status_table(const std::vector<proto::node_status>& nodes, proto::clock::time_point now, bool wide,
                                std::size_t width) {
    auto age = [&](const std::string& when) -> std::string {
        auto t = proto::from_rfc3339(when);
        if (!t) return "-";
        return proto::short_age(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
    };
    auto or_dash = [](const std::string& text) { return text.empty() ? std::string("-") : text; };
    std::vector<std::vector<std::string>> rows;
    if (wide)
        rows.push_back({"NAME", "PHASE", "CLUSTER", "ADDRESS", "LAST-SEEN", "AGE", "MODEL", "ARCH", "JOIN-ISSUED", "REASON"});
    else
        rows.push_back({"NAME", "PHASE", "CLUSTER", "ADDRESS", "LAST-SEEN", "AGE", "REASON"});
    for (const auto& n : nodes) {
        std::string reason = n.phase == "ready" ? std::string() : n.reason;
        if (!n.conflict.empty()) reason = "CONFLICT: " + n.conflict + (reason.empty() ? "" : "; " + reason);
        const std::string cluster = !n.readiness_tracked ? "-" : n.readiness.empty() ? "?" : n.readiness;
        std::vector<std::string> row{n.name, n.phase, cluster, or_dash(n.address),
                                     n.last_seen.empty() ? "-" : age(n.last_seen), age(n.enrolled_at)};
        if (wide) {
            row.push_back(or_dash(n.model));
            row.push_back(or_dash(n.arch));
            row.push_back(n.join_issued_at.empty() ? "-" : age(n.join_issued_at) + " ago");
        }
        row.push_back(or_dash(reason));
        rows.push_back(std::move(row));
    }
    // The reason takes what is left of `width`; a longer one is cut, and the line under the table says where it is
    // whole. The wide table cuts nothing.
    std::size_t cut = 0;
    escape_cells(rows);
    if (!wide) {
        std::size_t used = 0;
        for (std::size_t col = 0; col + 1 < rows.front().size(); ++col) {
            std::size_t w = 0;
            for (const auto& r : rows) w = std::max(w, r[col].size());
            used += w + 3;
        }
        const std::size_t room = width > used + 12 ? width - used : 12;
        for (std::size_t i = 1; i < rows.size(); ++i) {
            auto& reason = rows[i].back();
            if (reason.size() <= room) continue;
            reason = proto::shortened(reason, room);
            ++cut;
        }
    }
    std::string out = align(rows);
    if (nodes.empty()) out += "(no nodes have enrolled yet)\n";
    if (cut)
        out += "(" + std::to_string(cut) + " reason" + (cut == 1 ? " is" : "s are") +
               " cut to fit: `describe node NAME` or `-o wide` shows " + (cut == 1 ? "it" : "them") + " whole)\n";
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
