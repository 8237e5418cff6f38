#include "coordinator/status/metrics.hpp"

#include "proto/phases.hpp"
#include "proto/version.hpp"

#include <cstdio>

namespace graft::coordinator {

std::string_view to_string(endpoint e) {
    static constexpr std::array<std::string_view, endpoint_count> names{
        "healthz", "enroll", "report", "join", "renew", "heartbeat", "journal", "nodes", "node", "details", "watch",
        "metrics", "dashboard", "other"};
    return names[static_cast<std::size_t>(e)];
}

endpoint endpoint_of(std::string_view method, std::string_view target) {
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q), query = q == std::string_view::npos ? "" : target.substr(q);
    if (path == "/healthz") return endpoint::healthz;
    if (path == "/metrics") return endpoint::metrics;
    if (path == "/v1/enroll") return endpoint::enroll;
    if (path == "/" || path.starts_with("/dashboard")) return endpoint::dashboard;
    if (path == "/v1/nodes") return query.find("watch=true") != std::string_view::npos ? endpoint::watch : endpoint::nodes;
    constexpr std::string_view prefix = "/v1/nodes/";
    if (!path.starts_with(prefix)) return endpoint::other;
    const auto slash = path.find('/', prefix.size());
    if (slash == std::string_view::npos) return method == "GET" ? endpoint::node : endpoint::other;
    const std::string_view action = path.substr(slash + 1);
    if (action == "report") return endpoint::report;
    if (action == "join") return endpoint::join;
    if (action == "renew") return endpoint::renew;
    if (action == "journal") return endpoint::journal;
    if (action == "details") return endpoint::details;
    if (action == "heartbeat") return endpoint::heartbeat;
    return endpoint::other;
}

void fleet_metrics::enrollment(std::string_view outcome) {
    std::lock_guard lock(enrollments_mutex_);
    auto it = enrollments_.find(outcome);
    if (it == enrollments_.end()) enrollments_.emplace(std::string(outcome), 1);
    else ++it->second;
}

void fleet_metrics::request(endpoint e, unsigned status, std::chrono::nanoseconds took) {
    auto& h = requests_[static_cast<std::size_t>(e)];
    const double seconds = std::chrono::duration<double>(took).count();
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    h.buckets[i].fetch_add(1, std::memory_order_relaxed);
    h.sum_ns.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, took.count())), std::memory_order_relaxed);
    if (status >= 100 && status < 600) h.by_class[status / 100 - 1].fetch_add(1, std::memory_order_relaxed);
}

namespace {

// A label value as the exposition format writes it: backslash, double quote and newline escaped.
std::string label(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

}  // namespace

std::string fleet_metrics::render(const node_snapshot* snapshot, const cluster_health* cluster) const {
    std::string out;
    out.reserve(16 * 1024);

    family(out, "graft_build_info", "gauge", "The graft release this coordinator runs; always 1.");
    out += "graft_build_info{version=\"" + label(proto::graft_version) + "\",protocol=\"" +
           std::to_string(proto::protocol_version) + "\"} 1\n";

    if (snapshot) {
        // Every phase is written, a zero included, so a query over a phase that has emptied still finds it.
        std::map<std::string, std::uint64_t> phases;
        for (int p = 0; p <= static_cast<int>(proto::phase::denied); ++p)
            phases[std::string(proto::to_string(static_cast<proto::phase>(p)))] = 0;
        std::string after;
        for (;;) {
            auto page = snapshot->list("", after, 1024);
            for (const auto& n : page.nodes) ++phases[n->phase];
            if (page.next.empty()) break;
            after = page.next;
        }
        family(out, "graft_nodes", "gauge", "Nodes in the registry, by phase.");
        for (const auto& [phase, count] : phases)
            out += "graft_nodes{phase=\"" + label(phase) + "\"} " + std::to_string(count) + "\n";
    }

    family(out, "graft_enrollments_total", "counter",
           "Enrollments answered, by outcome: accepted, pending_approval, or the error code of the refusal.");
    {
        std::lock_guard lock(enrollments_mutex_);
        for (const auto& [outcome, count] : enrollments_)
            out += "graft_enrollments_total{outcome=\"" + label(outcome) + "\"} " + std::to_string(count) + "\n";
    }

    family(out, "graft_join_credentials_issued_total", "counter", "Join credentials issued to nodes.");
    out += "graft_join_credentials_issued_total " + std::to_string(joins_issued_.load()) + "\n";
    family(out, "graft_join_credentials_revoked_total", "counter",
           "Join credentials revoked once their node was Ready.");
    out += "graft_join_credentials_revoked_total " + std::to_string(joins_revoked_.load()) + "\n";

    family(out, "graft_http_request_duration_seconds", "histogram",
           "Time from a request's header read to its answer written, by endpoint.");
    for (std::size_t e = 0; e < endpoint_count; ++e) {
        const auto& h = requests_[e];
        const std::string name(to_string(static_cast<endpoint>(e)));
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= bounds.size(); ++i) {
            cumulative += h.buckets[i].load(std::memory_order_relaxed);
            out += "graft_http_request_duration_seconds_bucket{endpoint=\"" + name + "\",le=\"" +
                   (i < bounds.size() ? number(bounds[i]) : std::string("+Inf")) + "\"} " + std::to_string(cumulative) + "\n";
        }
        out += "graft_http_request_duration_seconds_sum{endpoint=\"" + name + "\"} " +
               number(static_cast<double>(h.sum_ns.load(std::memory_order_relaxed)) / 1e9) + "\n";
        out += "graft_http_request_duration_seconds_count{endpoint=\"" + name + "\"} " + std::to_string(cumulative) + "\n";
    }
    family(out, "graft_http_responses_total", "counter", "Answers written, by endpoint and status class.");
    for (std::size_t e = 0; e < endpoint_count; ++e)
        for (std::size_t c = 0; c < 5; ++c)
            if (auto n = requests_[e].by_class[c].load(std::memory_order_relaxed))
                out += "graft_http_responses_total{endpoint=\"" + std::string(to_string(static_cast<endpoint>(e))) +
                       "\",code=\"" + std::to_string(c + 1) + "xx\"} " + std::to_string(n) + "\n";

    if (const int leading = leading_.load(); leading >= 0) {
        family(out, "graft_node_watch_leader", "gauge",
               "1 while this coordinator leads the Node watch, of the coordinators sharing an etcd registry.");
        out += "graft_node_watch_leader " + std::to_string(leading) + "\n";
    }

    if (cluster) {
        const auto c = cluster->counters();
        family(out, "graft_node_watch_up", "gauge", "1 while the watch of the cluster's Nodes is running healthily.");
        out += "graft_node_watch_up " + std::string(c.watching ? "1" : "0") + "\n";
        family(out, "graft_node_watch_starts_total", "counter",
               "Node watches started: the first, and each again after a timeout or a failure.");
        out += "graft_node_watch_starts_total " + std::to_string(c.watches) + "\n";
        family(out, "graft_node_watch_errors_total", "counter", "Problems met talking to the Kubernetes API server.");
        out += "graft_node_watch_errors_total " + std::to_string(c.problems) + "\n";
    }
    return out;
}

fleet_metrics& metrics() {
    static fleet_metrics instance;
    return instance;
}

}  // namespace graft::coordinator
