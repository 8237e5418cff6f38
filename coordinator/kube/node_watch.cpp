#include "coordinator/kube/node_watch.hpp"

#include "proto/log.hpp"
#include "proto/message_ids.hpp"
#include "proto/time.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace graft::coordinator {
namespace {

namespace net = boost::asio;

std::string resource_version_of(const proto::json& object) {
    if (object.contains("metadata") && object["metadata"].is_object() && object["metadata"].contains("resourceVersion") &&
        object["metadata"]["resourceVersion"].is_string())
        return object["metadata"]["resourceVersion"].get<std::string>();
    return {};
}

void report_problem(cluster_health& health, const std::string& message) {
    health.problem(message, proto::to_rfc3339(proto::clock::now()));
    proto::log_error(message, {}, proto::message_id::kube_api_problem);
}

// Thrown out of the stream's line handler to end a watch whose resourceVersion is gone.
struct resource_version_gone {};

}  // namespace

net::awaitable<void> watch_nodes(kube_connection& kube, readiness_tracker& tracker, cluster_health& health,
                                 node_watch_settings settings) {
    std::string version;  // the resourceVersion the next watch starts from; empty: list first
    auto wait = settings.backoff_initial;
    for (;;) {
        try {
            const std::shared_ptr<kube_client> held = kube.client();
            kube_client& client = *held;
            if (version.empty()) {
                const auto list = client.get("/api/v1/nodes");
                std::vector<node_readiness> nodes;
                if (list.contains("items") && list["items"].is_array())
                    for (const auto& item : list["items"]) nodes.push_back(read_node_readiness(item));
                version = resource_version_of(list);
                if (version.empty()) throw kube_api_error(502, "the Node list from " + client.credentials().server +
                                                                   " has no metadata.resourceVersion");
                tracker.listed(nodes);
                health.healthy(client.server_version(), "watching Nodes");
                proto::log_info("listed " + std::to_string(nodes.size()) + " Node(s) at resourceVersion " + version +
                                "; watching for changes");
            }
            const std::string path = "/api/v1/nodes?watch=1&allowWatchBookmarks=true&resourceVersion=" + version +
                                     "&timeoutSeconds=" + std::to_string(settings.watch_timeout.count());
            health.watch_started();
            co_await client.stream(path, [&](std::string_view line) {
                if (line.empty()) return;
                try {
                    const auto event = proto::parse_json(line);
                    if (!event.is_object() || !event.contains("type") || !event["type"].is_string() ||
                        !event.contains("object") || !event["object"].is_object())
                        throw proto::validation_error("", "expected {\"type\": ..., \"object\": {...}}");
                    const std::string type = event["type"].get<std::string>();
                    const auto& object = event["object"];
                    if (type == "ERROR") {
                        if (object.value("code", 0) == 410) throw resource_version_gone{};
                        throw kube_api_error(object.value("code", 0), "the Node watch ended with an error: " +
                                                                          object.value("message", std::string("(no message)")));
                    }
                    if (type == "ADDED" || type == "MODIFIED") tracker.observed(read_node_readiness(object));
                    else if (type == "DELETED") tracker.deleted(read_node_readiness(object).name);
                    else if (type != "BOOKMARK")
                        throw proto::validation_error("type", "unknown event type '" + type + "'");
                    if (auto v = resource_version_of(object); !v.empty()) version = v;
                    health.healthy("", "watching Nodes");
                } catch (const proto::validation_error& e) {
                    // One bad event is reported and skipped; the watch and the coordinator go on.
                    report_problem(health, "the Node watch of " + client.credentials().server +
                                               " sent a malformed event, skipped: " + e.what());
                }
            }, settings.watch_timeout + std::chrono::seconds(30));
            wait = settings.backoff_initial;  // the server ended the watch at its timeout: resume at once
            continue;
        } catch (const resource_version_gone&) {
            proto::log_info("resourceVersion " + version + " is gone (410); listing the Nodes afresh");
            version.clear();
            continue;
        } catch (const kube_api_error& e) {
            if (e.status == 410) {
                version.clear();
                continue;
            }
            report_problem(health, e.what());
        } catch (const proto::validation_error& e) {
            report_problem(health, std::string("the Node list of the Kubernetes API server is malformed: ") + e.what());
            version.clear();
        } catch (const std::exception& e) {
            report_problem(health, std::string("the Node watch failed: ") + e.what() + "; trying again");
        }
        net::steady_timer timer(co_await net::this_coro::executor, wait);
        co_await timer.async_wait(net::use_awaitable);
        wait = std::min(wait * 2, settings.backoff_cap);
    }
}

}  // namespace graft::coordinator
