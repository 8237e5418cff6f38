#pragma once
// Request handling for the coordinator's API, as a function of (request, who is asking, state) with no sockets in
// sight, so every endpoint is unit-tested directly. docs/protocol.md lists the endpoints and their errors.

#include "coordinator/dashboard/sessions.hpp"
#include "coordinator/enroll/authority.hpp"
#include "coordinator/http/admission.hpp"
#include "coordinator/join/backend.hpp"
#include "coordinator/kube/cluster_health.hpp"
#include "coordinator/status/journal_requests.hpp"
#include "coordinator/status/node_snapshot.hpp"
#include "coordinator/store/registry.hpp"
#include "proto/time.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>
#include <optional>
#include <string>

namespace graft::coordinator {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// What the router works with. The registry and the join backend are thread-safe, the CA read-only, so handle()
// may run on several threads at once.
struct coordinator_state {
    node_registry& registry;
    const certificate_authority& ca;
    join_backend& joins;
    std::string node_name_prefix = "node";
    std::chrono::seconds certificate_lifetime{std::chrono::hours(24 * 30)};
    std::function<proto::clock::time_point()> now = [] { return proto::clock::now(); };
    // What the coordinator knows of the Kubernetes API server; null when it has no kubeconfig.
    cluster_health* cluster = nullptr;
    // Whether the cluster has a Node of that name (from the Node watch); unset without a kubeconfig.
    std::function<bool(const std::string& name)> name_in_cluster = {};
    // Enrollments per client address; null: no limit.
    rate_limiter* enroll_limiter = nullptr;
    // What status reads come from, kept current by writes through a snapshotting_registry; null: a snapshot is read
    // from the registry for each listing (unit tests).
    node_snapshot* snapshot = nullptr;
    // Operators' journal requests waiting for nodes' heartbeats; null: none can be made.
    journal_requests* journal_asks = nullptr;
    // Browsers' sign-ins to the dashboard; null: the dashboard cannot be signed in to.
    dashboard_sessions* sessions = nullptr;
};

struct request_context {
    // The node named by a node's client certificate that verified against graft's CA; empty without one.
    std::optional<std::string> client_node;
    std::string remote_address;
    // That certificate's serial (hex): only the newest certificate of a node speaks for it.
    std::string client_serial = {};
    // Why a verified client certificate does not speak for its node (it expired while its session was resumed);
    // "" when there is nothing to say.
    std::string certificate_problem = {};
    // The operator named by an operator's client certificate that verified against graft's CA; empty without one.
    std::optional<std::string> client_operator = {};
};

response handle(const request& req, const request_context& ctx, coordinator_state& state);

// Whether handle() answers `req` from memory alone (health, the node snapshot): no write, no program, no disk, so
// the server answers it on the network thread instead of the handler pool.
bool answers_at_once(const request& req, const coordinator_state& state);

// A node's report that changes nothing it has reported (an agent saying it is still waiting), answered from the
// snapshot on the network thread: the same checks of the certificate as handle() makes, against a snapshot known
// to be current. nullopt when the report changes something, or anything is in doubt: then handle() it.
std::optional<response> unchanged_report(const request& req, const request_context& ctx, coordinator_state& state);

// A GET /v1/nodes?watch=true, which the server streams rather than handing to handle().
bool is_watch(const request& req);

// Reading the fleet (node status, journals, metrics) is an operator's: the refusal to answer when `ctx` is not
// one, nullopt when it is or `req` reads nothing of the fleet. A node's certificate writes its own reports only.
std::optional<response> refuse_unless_operator(const request& req, const request_context& ctx);

// A JSON error body {"error": {"code", "message"}} with the given status.
response error_response(http::status status, std::string code, std::string message, unsigned version = 11);

}  // namespace graft::coordinator
