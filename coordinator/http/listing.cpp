#include "coordinator/http/listing.hpp"

#include "coordinator/kube/cluster_health.hpp"
#include "proto/messages.hpp"
#include "proto/phases.hpp"

#include <charconv>
#include <limits>

namespace graft::coordinator {
namespace {

constexpr std::size_t piece_nodes = 256;   // nodes per piece of a listing or of a watch's first events
constexpr std::size_t max_limit = 10000;

std::optional<std::string> percent_decode(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '+') {
            out += ' ';
        } else if (in[i] == '%') {
            unsigned value = 0;
            if (i + 2 >= in.size()) return std::nullopt;
            auto [end, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
            if (ec != std::errc() || end != in.data() + i + 3) return std::nullopt;
            out += static_cast<char>(value);
            i += 2;
        } else {
            out += in[i];
        }
    }
    return out;
}

std::optional<std::uint64_t> number(std::string_view text) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

bool matches(std::string_view phase, const list_query& query) { return query.phase.empty() || phase == query.phase; }

std::string event(std::string_view kind, std::uint64_t version, const std::string& json) {
    std::string out;
    out.reserve(json.size() + 40);
    out += "event: ";
    out += kind;
    out += "\nid: ";
    out += std::to_string(version);
    out += "\ndata: ";
    out += json;  // one line: the JSON has no raw newlines
    out += "\n\n";
    return out;
}

}  // namespace

std::variant<std::vector<std::pair<std::string, std::string>>, std::string> query_pairs(std::string_view target) {
    std::vector<std::pair<std::string, std::string>> out;
    const auto mark = target.find('?');
    std::string_view rest = mark == std::string_view::npos ? std::string_view() : target.substr(mark + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        auto key = percent_decode(pair.substr(0, eq));
        auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
        if (!key || !value) return "the query is not valid percent-encoding: " + std::string(pair.substr(0, 100));
        out.emplace_back(std::move(*key), std::move(*value));
    }
    return out;
}

std::variant<list_query, std::string> parse_list_query(const boost::beast::http::request<boost::beast::http::string_body>& req) {
    list_query q;
    auto pairs = query_pairs(req.target());
    if (auto* message = std::get_if<std::string>(&pairs)) return std::move(*message);
    for (const auto& [key, value] : std::get<0>(pairs)) {
        if (key == "phase") {
            if (!proto::phase_from_string(value))
                return "query parameter 'phase': '" + value.substr(0, 64) + "' is not a phase (enrolled, preparing, "
                       "rebooting, joining, joined, ready, failed, deleted, pending_approval, denied, ...)";
            q.phase = value;
        } else if (key == "limit") {
            auto n = number(value);
            if (!n || *n < 1 || *n > max_limit)
                return "query parameter 'limit': a number of nodes from 1 to " + std::to_string(max_limit) + ", got '" +
                       value.substr(0, 64) + "'";
            q.limit = *n;
        } else if (key == "continue") {
            if (!value.empty() && !proto::is_node_name(value))
                return "query parameter 'continue': '" + value.substr(0, 64) +
                       "' is not a continue token this coordinator gave; pass metadata.continue of the page before";
            q.after = value;
        } else if (key == "watch") {
            if (value != "true" && value != "1" && value != "false" && value != "0")
                return "query parameter 'watch': true or false, got '" + value.substr(0, 64) + "'";
            q.watch = value == "true" || value == "1";
        } else if (key == "resourceVersion") {
            auto n = number(value);
            if (!n) return "query parameter 'resourceVersion': a number from metadata.resourceVersion or an event's id, got '" +
                           value.substr(0, 64) + "'";
            q.since = *n;
        } else {
            return "unknown query parameter '" + key.substr(0, 64) + "'; /v1/nodes takes phase, limit, continue, watch "
                   "and resourceVersion";
        }
    }
    // A reconnecting EventSource says where it was with Last-Event-ID.
    if (q.watch && !q.since) {
        auto last = req["Last-Event-ID"];
        if (!last.empty()) {
            auto n = number(last);
            if (!n) return "header Last-Event-ID: an event's id, got '" + std::string(last.substr(0, 64)) + "'";
            q.since = *n;
        }
    }
    return q;
}

listing_writer::listing_writer(list_query query, const node_snapshot& snapshot, const cluster_health* cluster)
    : query_(std::move(query)), snapshot_(snapshot), cluster_(cluster), after_(query_.after),
      left_(query_.limit ? query_.limit : std::numeric_limits<std::size_t>::max()) {}

std::optional<std::string> listing_writer::next() {
    switch (stage_) {
    case stage::open:
        stage_ = stage::nodes;
        return std::string("{\"nodes\":[");
    case stage::nodes: {
        // One more node than fits tells whether there is a page after this one.
        const std::size_t want = std::min(left_, piece_nodes);
        auto page = snapshot_.list(query_.phase, after_, want);
        if (first_node_) version_ = page.version;
        std::string out;
        out.reserve(page.nodes.size() * 480);
        for (const auto& n : page.nodes) {
            if (!first_node_) out += ',';
            first_node_ = false;
            out += snapshot_.json_of(*n);
        }
        left_ -= page.nodes.size();
        if (!page.nodes.empty()) after_ = page.nodes.back()->name;
        if (page.next.empty()) {
            stage_ = stage::close;
        } else if (left_ == 0) {
            continue_ = after_;  // the page is full and there are more
            stage_ = stage::close;
        }
        return out;
    }
    case stage::close: {
        stage_ = stage::done;
        proto::json metadata{{"resourceVersion", std::to_string(version_)}};
        if (!continue_.empty()) metadata["continue"] = continue_;
        std::string out = "],\"metadata\":" + metadata.dump();
        if (cluster_) out += ",\"cluster\":" + cluster_->to_json().dump(-1, ' ', false, proto::json::error_handler_t::replace);
        return out + "}\n";
    }
    case stage::done: break;
    }
    return std::nullopt;
}

std::string watch_event(const snapshot_change& change, const list_query& query) {
    const std::string_view now = change.node->phase;
    switch (change.kind) {
    case change_kind::added:
        return matches(now, query) ? event("ADDED", change.version, change.node->json) : "";
    case change_kind::deleted:
        return matches(now, query) ? event("DELETED", change.version, change.node->json) : "";
    case change_kind::modified: {
        // As in a Kubernetes watch with a selector: a node entering the filter is ADDED, one leaving it DELETED.
        const bool was = matches(change.previous_phase, query), is = matches(now, query);
        if (was && is) return event("MODIFIED", change.version, change.node->json);
        if (is) return event("ADDED", change.version, change.node->json);
        if (was) return event("DELETED", change.version, change.node->json);
        return "";
    }
    }
    return "";
}

std::string initial_events(const node_snapshot& snapshot, const list_query& query, std::string& after,
                           std::uint64_t& version) {
    auto page = snapshot.list(query.phase, after, piece_nodes);
    if (after.empty()) version = page.version;
    std::string out;
    for (const auto& n : page.nodes) out += event("ADDED", version, snapshot.json_of(*n));
    if (!page.nodes.empty()) after = page.nodes.back()->name;
    return out;
}

}  // namespace graft::coordinator
