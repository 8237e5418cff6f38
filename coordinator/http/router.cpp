#include "coordinator/http/router.hpp"

#include "coordinator/http/listing.hpp"
#include "coordinator/store/phase_change.hpp"

#include "proto/log.hpp"
#include "proto/message_ids.hpp"
#include "proto/messages.hpp"
#include "proto/pki.hpp"
#include "proto/version.hpp"

#include <boost/beast/http/field.hpp>

#include <variant>

namespace graft::coordinator {
namespace {

response json_response(http::status status, const proto::json& body, unsigned version) {
    response res{status, version};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    // Text echoed from a request (a path in a 404, say) may not be UTF-8, which JSON cannot carry: such bytes become
    // U+FFFD rather than an exception (found by the router fuzz target).
    res.body() = body.dump(-1, ' ', false, proto::json::error_handler_t::replace) + "\n";
    res.prepare_payload();
    return res;
}

// An answer whose JSON is already written (the snapshot's, or a constant).
response serialized_json(std::string body, unsigned version) {
    response res{http::status::ok, version};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

proto::node_status to_status(const node_record& n, const coordinator_state& state) {
    return node_status_of(n, state.cluster != nullptr);
}

// Parses a body with `parse`, turning any validation error into a 400 that names the field.
template <class Message, class Parse>
std::variant<Message, response> read_body(const request& req, Parse parse) {
    try {
        return parse(proto::parse_json(req.body()));
    } catch (const proto::validation_error& e) {
        return error_response(http::status::bad_request, "invalid_request", e.what(), req.version());
    }
}

response enroll(const request& req, const request_context& ctx, coordinator_state& state) {
    if (state.enroll_limiter)
        if (auto wait = state.enroll_limiter->take(ctx.remote_address, std::chrono::steady_clock::now())) {
            response res = error_response(http::status::too_many_requests, "rate_limited",
                                          "too many enrollments from " + ctx.remote_address +
                                              " at once; try again after the Retry-After seconds",
                                          req.version());
            res.set(http::field::retry_after, std::to_string(std::max<long long>(1, (wait->count() + 999) / 1000)));
            return res;
        }
    auto parsed = read_body<proto::enroll_request>(req, proto::enroll_request::from_json);
    if (auto* err = std::get_if<response>(&parsed)) return std::move(*err);
    auto& body = std::get<proto::enroll_request>(parsed);

    if (body.protocol_version != proto::protocol_version)
        return error_response(http::status::bad_request, "unsupported_protocol_version",
                              "this coordinator speaks protocol version " + std::to_string(proto::protocol_version) +
                                  "; the agent sent " + std::to_string(body.protocol_version) +
                                  ": install an agent and coordinator of the same graft release",
                              req.version());

    proto::parsed_csr csr;
    try {
        csr = proto::parse_csr(body.csr_pem);
    } catch (const std::invalid_argument& e) {
        return error_response(http::status::bad_request, "invalid_request", std::string("field 'csr': ") + e.what(),
                              req.version());
    }

    const auto dot = body.enrollment_token.find('.');
    const auto now = state.now();
    enrollment request;
    request.token_id = body.enrollment_token.substr(0, dot);
    request.token_secret = dot == std::string::npos ? std::string() : body.enrollment_token.substr(dot + 1);
    request.facts = body.facts;
    request.key_pin = proto::spki_pin(*csr.public_key);
    request.address = ctx.remote_address;
    request.now = proto::to_unix(now);
    request.name_prefix = state.node_name_prefix;
    request.name_taken = state.name_in_cluster;
    request.issue_certificate = [&](const std::string& name) {
        auto cert = state.ca.sign_node(*csr.public_key, name, state.certificate_lifetime);
        return std::pair{proto::certificate_pem(*cert), proto::serial_hex(*cert)};
    };
    if (ctx.client_node) {
        request.presented_node = *ctx.client_node;
        request.presented_serial = ctx.client_serial;
    }
    auto result = state.registry.enroll(request);

    auto refuse = [&](http::status status, std::string code, std::string message) {
        proto::log_warning("enrollment refused: " + message,
                           {{"GRAFT_REMOTE", ctx.remote_address}, {"GRAFT_MACHINE_ID", body.facts.machine_id}},
                           proto::message_id::enrollment_refused);
        return error_response(status, std::move(code), std::move(message), req.version());
    };
    const std::string fresh_token = "write a fresh graft.json from `graft-coordinator boot-config` onto the boot partition";
    switch (result.verdict) {
    case token_verdict::accepted: break;
    case token_verdict::unknown:
    case token_verdict::wrong_secret:
        return refuse(http::status::unauthorized, "invalid_enrollment_token",
                      "the enrollment token is not one this coordinator issued; " + fresh_token);
    case token_verdict::expired:
        return refuse(http::status::unauthorized, "enrollment_token_expired",
                      "the enrollment token has expired; " + fresh_token);
    case token_verdict::used_up:
        return refuse(http::status::unauthorized, "enrollment_token_used_up",
                      "the enrollment token has been used as often as it allows; " + fresh_token);
    case token_verdict::revoked:
        return refuse(http::status::unauthorized, "enrollment_token_revoked",
                      "the enrollment token was revoked by an operator; " + fresh_token);
    case token_verdict::not_allowed:
        return refuse(http::status::forbidden, "enrollment_not_allowed",
                      "this enrollment token admits only the machines on its allow-list, and this one (serial '" +
                          body.facts.serial + "', machine-id " + body.facts.machine_id +
                          ") is not on it; ask the operator for a token that lists it");
    case token_verdict::denied:
        return refuse(http::status::forbidden, "enrollment_denied",
                      "an operator denied the enrollment of this machine as " + result.node.name +
                          "; `graft-coordinator nodes delete " + result.node.name + "` lets it enroll afresh");
    case token_verdict::pending_approval: {
        if (!result.repeated)
            proto::log_info("node " + result.node.name + " enrolled from " + ctx.remote_address +
                                " and waits for approval: graft-coordinator nodes approve " + result.node.name,
                            {{"GRAFT_NODE", result.node.name}, {"GRAFT_PHASE", "pending_approval"},
                             {"GRAFT_REMOTE", ctx.remote_address}, {"GRAFT_MACHINE_ID", body.facts.machine_id}},
                            proto::message_id::approval_needed);
        proto::node_status pending = to_status(result.node, state);
        pending.reason = "waiting for an operator: graft-coordinator nodes approve " + result.node.name;
        response res = json_response(http::status::accepted, pending.to_json(), req.version());
        res.set(http::field::retry_after, "30");
        return res;
    }
    case token_verdict::identity_conflict:
    case token_verdict::cloned: {
        const bool cloned = result.verdict == token_verdict::cloned;
        proto::log_warning((cloned ? "cloned card: " : "identity conflict on ") + result.node.name + ": " +
                               result.node.conflict,
                           {{"GRAFT_NODE", result.node.name}, {"GRAFT_REMOTE", ctx.remote_address},
                            {"GRAFT_MACHINE_ID", body.facts.machine_id}},
                           cloned ? proto::message_id::cloned_card : proto::message_id::identity_conflict);
        return error_response(
            http::status::conflict, cloned ? "machine_id_cloned" : "identity_conflict",
            cloned ? "machine-id " + body.facts.machine_id + " belongs to " + result.node.name +
                         ", enrolled from another board: this card is a clone. Make a fresh machine-id and enroll again"
                   : "machine-id " + body.facts.machine_id + " belongs to " + result.node.name +
                         ", which enrolled with another key; an operator can accept this machine as its re-flash with "
                         "`graft-coordinator nodes replace " + result.node.name + "`",
            req.version());
    }
    }

    if (result.repeated) {
        proto::log_info("node " + result.node.name + " asked again for its enrollment (its answer was lost): the same "
                        "certificate, no use of the token spent",
                        {{"GRAFT_NODE", result.node.name}, {"GRAFT_REMOTE", ctx.remote_address}});
    } else {
        const std::string how = !result.returning ? " enrolled"
                                : result.replaced ? " enrolled again with a new key"
                                                  : " enrolled again";
        proto::log_info("node " + result.node.name + how + " from " + ctx.remote_address,
                        {{"GRAFT_NODE", result.node.name},
                         {"GRAFT_PHASE", "enrolled"},
                         {"GRAFT_MACHINE_ID", body.facts.machine_id},
                         {"GRAFT_CSR_NAME", csr.common_name}},
                        proto::message_id::node_enrolled);
        if (body.facts.cloned_from)
            proto::log_warning("node " + result.node.name + " runs on a card cloned from the machine with machine-id " +
                                   *body.facts.cloned_from + "; its agent made itself a fresh machine-id",
                               {{"GRAFT_NODE", result.node.name}, {"GRAFT_MACHINE_ID", body.facts.machine_id}},
                               proto::message_id::cloned_card);
    }

    proto::enroll_response out;
    out.protocol_version = proto::protocol_version;
    out.node_name = result.node.name;
    out.certificate_pem = result.certificate_pem;
    out.ca_certificate_pem = state.ca.ca_pem();
    out.profile.flavour = state.joins.flavour();
    return json_response(http::status::ok, out.to_json(), req.version());
}

response report(const request& req, const request_context& ctx, coordinator_state& state, const std::string& name) {
    auto parsed = read_body<proto::node_report>(req, proto::node_report::from_json);
    if (auto* err = std::get_if<response>(&parsed)) return std::move(*err);
    auto& body = std::get<proto::node_report>(parsed);
    // Only the agent's own progress is the node's to say (proto/phases.hpp).
    if (!proto::may_set(proto::phase_source::node, body.phase))
        return error_response(http::status::bad_request, "invalid_request",
                              "field 'phase': '" + std::string(proto::to_string(body.phase)) +
                                  "' is set by the coordinator or the cluster, not reported by a node",
                              req.version());
    // A move the table refuses (a deleted node reporting, a joined node overwriting the cluster's word on readiness)
    // changes nothing; the answer carries what is recorded, which is how the node learns it.
    auto changed = change_phase(state.registry,
                                {name, body.phase, proto::phase_source::node, body.message,
                                 body.address ? body.address : ctx.remote_address},
                                proto::to_unix(state.now()));
    if (changed.outcome == change_outcome::unknown_node)
        return error_response(http::status::not_found, "unknown_node", "no node named " + name, req.version());
    return json_response(http::status::ok, to_status(*changed.node, state).to_json(), req.version());
}

response join(const request& req, coordinator_state& state, const std::string& name) {
    auto parsed = read_body<proto::join_request>(req, proto::join_request::from_json);
    if (auto* err = std::get_if<response>(&parsed)) return std::move(*err);
    auto node = state.registry.find(name);
    if (!node) return error_response(http::status::not_found, "unknown_node", "no node named " + name, req.version());
    if (node->phase == "deleted")
        return error_response(http::status::forbidden, "node_deleted",
                              name + " was deleted from the cluster and gets no join credential; " + node->reason,
                              req.version());
    proto::join_spec spec;
    try {
        spec = state.joins.issue(*node, std::get<proto::join_request>(parsed));
    } catch (const join_refused& e) {
        proto::log_error(std::string("refused a join credential for ") + name + ": " + e.what(), {{"GRAFT_NODE", name}},
                         proto::message_id::version_skew);
        return error_response(http::status::conflict, "version_skew", e.what(), req.version());
    } catch (const join_error& e) {
        proto::log_error(std::string("cannot issue a join credential for ") + name + ": " + e.what(),
                         {{"GRAFT_NODE", name}}, proto::message_id::join_backend_failed);
        if (state.cluster) state.cluster->problem(e.what(), proto::to_rfc3339(state.now()));
        response res = error_response(http::status::service_unavailable, "join_backend_failed", e.what(), req.version());
        res.set(http::field::retry_after, "30");
        return res;
    }
    std::optional<std::int64_t> expires;
    if (auto t = proto::from_rfc3339(spec.expires_at)) expires = proto::to_unix(*t);
    state.registry.record_join(name, spec.display_command(), proto::to_unix(state.now()), expires, spec.credential_id);
    proto::log_info("issued a join credential for " + name + " (" + spec.display_command() + ")",
                    {{"GRAFT_NODE", name}}, proto::message_id::join_issued);
    return json_response(http::status::ok, spec.to_json(), req.version());
}

// A new certificate for the key the node already holds, asked for over its current certificate.
response renew(const request& req, coordinator_state& state, const node_record& node) {
    auto parsed = read_body<proto::renew_request>(req, proto::renew_request::from_json);
    if (auto* err = std::get_if<response>(&parsed)) return std::move(*err);
    proto::parsed_csr csr;
    try {
        csr = proto::parse_csr(std::get<proto::renew_request>(parsed).csr_pem);
    } catch (const std::invalid_argument& e) {
        return error_response(http::status::bad_request, "invalid_request", std::string("field 'csr': ") + e.what(),
                              req.version());
    }
    if (!node.key_pin.empty() && proto::spki_pin(*csr.public_key) != node.key_pin)
        return error_response(http::status::bad_request, "invalid_request",
                              "field 'csr': renewal keeps the node's key, and this request is for another one; a new key "
                              "means enrolling again",
                              req.version());
    const std::string pem = state.registry.renew(node.name, proto::to_unix(state.now()), [&] {
        auto cert = state.ca.sign_node(*csr.public_key, node.name, state.certificate_lifetime);
        return std::pair{proto::certificate_pem(*cert), proto::serial_hex(*cert)};
    });
    if (pem.empty()) return error_response(http::status::not_found, "unknown_node", "no node named " + node.name, req.version());
    proto::log_info("renewed the certificate of " + node.name, {{"GRAFT_NODE", node.name}},
                    proto::message_id::certificate_renewed);
    return json_response(http::status::ok, proto::renew_response{pem}.to_json(), req.version());
}

response list_nodes(const request& req, coordinator_state& state) {
    auto parsed = parse_list_query(req);
    if (auto* message = std::get_if<std::string>(&parsed))
        return error_response(http::status::bad_request, "invalid_query", *message, req.version());
    auto& query = std::get<list_query>(parsed);
    if (query.watch)
        return error_response(http::status::bad_request, "invalid_query",
                              "a watch is a stream the server writes as changes come; this request cannot carry one",
                              req.version());
    std::optional<node_snapshot> own;
    if (!state.snapshot) own.emplace(state.registry, state.cluster != nullptr);
    listing_writer writer(std::move(query), state.snapshot ? *state.snapshot : *own, state.cluster);
    response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    while (auto piece = writer.next()) res.body() += *piece;
    res.prepare_payload();
    return res;
}

response method_not_allowed(const request& req, const char* allowed) {
    response res = error_response(http::status::method_not_allowed, "method_not_allowed",
                                  std::string(req.method_string()) + " is not allowed here; use " + allowed, req.version());
    res.set(http::field::allow, allowed);
    return res;
}

response route(const request& req, const request_context& ctx, coordinator_state& state) {
    std::string_view target = req.target();
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    const bool get = req.method() == http::verb::get, post = req.method() == http::verb::post;

    if (target == "/healthz") {
        if (!get) return method_not_allowed(req, "GET");
        return serialized_json("{\"status\":\"ok\"}\n", req.version());
    }
    if (target == "/v1/enroll") return post ? enroll(req, ctx, state) : method_not_allowed(req, "POST");
    if (target == "/v1/nodes") return get ? list_nodes(req, state) : method_not_allowed(req, "GET");

    constexpr std::string_view nodes_prefix = "/v1/nodes/";
    if (target.starts_with(nodes_prefix)) {
        std::string_view rest = target.substr(nodes_prefix.size());
        auto slash = rest.find('/');
        const std::string name(rest.substr(0, slash));
        const std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
        if (!proto::is_node_name(name))
            return error_response(http::status::not_found, "unknown_node", "'" + name.substr(0, 64) +
                                  "' is not a node name", req.version());
        if (action.empty()) {
            if (!get) return method_not_allowed(req, "GET");
            if (state.snapshot) {
                auto entry = state.snapshot->find(name);
                if (!entry) return error_response(http::status::not_found, "unknown_node", "no node named " + name, req.version());
                return serialized_json(entry->json + "\n", req.version());
            }
            auto node = state.registry.find(name);
            if (!node) return error_response(http::status::not_found, "unknown_node", "no node named " + name, req.version());
            return json_response(http::status::ok, to_status(*node, state).to_json(), req.version());
        }
        if (action == "report" || action == "join" || action == "renew") {
            if (!post) return method_not_allowed(req, "POST");
            // The path names the node; only that node's own certificate may speak for it.
            if (!ctx.client_node)
                return error_response(http::status::unauthorized, "client_certificate_required",
                                      ctx.certificate_problem.empty()
                                          ? "this endpoint needs the node's client certificate from enrollment"
                                          : ctx.certificate_problem,
                                      req.version());
            if (*ctx.client_node != name)
                return error_response(http::status::forbidden, "wrong_node",
                                      "the client certificate belongs to " + *ctx.client_node + ", not to " + name,
                                      req.version());
            // A node enrolled again holds a new certificate; the ones it was given before no longer speak for it.
            // A node an operator deleted has none.
            auto node = state.registry.find(name);
            if (!node)
                return error_response(http::status::forbidden, "certificate_revoked",
                                      name + " is no longer in the coordinator's registry (an operator deleted it), so its "
                                      "certificates speak for nobody; the machine must enroll again with a fresh graft.json",
                                      req.version());
            // A renewed certificate takes over the first time it is used.
            if (!node->pending_serial.empty() && ctx.client_serial == node->pending_serial) {
                state.registry.promote_certificate(name, ctx.client_serial);
                node->certificate_serial = ctx.client_serial;
            }
            if (ctx.client_serial != node->certificate_serial)
                return error_response(http::status::forbidden, "certificate_superseded",
                                      "this certificate (serial " + ctx.client_serial + ") is no longer " + name +
                                          "'s: the node enrolled again and was given another; a machine holding the old "
                                          "one must enroll again with a fresh graft.json",
                                      req.version());
            if (action == "renew") return renew(req, state, *node);
            return action == "report" ? report(req, ctx, state, name) : join(req, state, name);
        }
    }
    return error_response(http::status::not_found, "not_found", "no such endpoint: " + std::string(target.substr(0, 200)),
                          req.version());
}

}  // namespace

response error_response(http::status status, std::string code, std::string message, unsigned version) {
    return json_response(status, proto::error_body{std::move(code), std::move(message)}.to_json(), version);
}

bool answers_at_once(const request& req, const coordinator_state& state) {
    if (req.method() != http::verb::get) return false;
    std::string_view target = req.target();
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (target == "/healthz") return true;
    // The status reads come from the snapshot when there is one.
    if (!state.snapshot) return false;
    if (target == "/v1/nodes") return true;
    constexpr std::string_view nodes_prefix = "/v1/nodes/";
    return target.starts_with(nodes_prefix) && target.find('/', nodes_prefix.size()) == std::string_view::npos;
}

std::optional<response> unchanged_report(const request& req, const request_context& ctx, coordinator_state& state) {
    if (!state.snapshot || req.method() != http::verb::post || !ctx.client_node) return std::nullopt;
    constexpr std::string_view prefix = "/v1/nodes/", suffix = "/report";
    std::string_view target = req.target();
    if (!target.starts_with(prefix) || !target.ends_with(suffix) || target.size() <= prefix.size() + suffix.size())
        return std::nullopt;
    const std::string_view name = target.substr(prefix.size(), target.size() - prefix.size() - suffix.size());
    if (name != *ctx.client_node) return std::nullopt;
    proto::node_report body;
    try {
        body = proto::node_report::from_json(proto::parse_json(req.body()));
    } catch (const std::exception&) {
        return std::nullopt;  // handle() says what is wrong with it
    }
    if (!proto::may_set(proto::phase_source::node, body.phase)) return std::nullopt;
    // The certificate must be the node's current one, by a snapshot that holds every write so far (an operator's
    // `nodes delete` from another process included).
    if (!state.snapshot->confirm_current()) return std::nullopt;
    auto entry = state.snapshot->find(name);
    if (!entry || !entry->pending_serial.empty() || ctx.client_serial != entry->certificate_serial) return std::nullopt;
    const std::string& address = body.address ? *body.address : ctx.remote_address;
    if (std::string_view(proto::to_string(body.phase)) != entry->phase || body.message != entry->reason ||
        address != entry->address)
        return std::nullopt;
    return serialized_json(entry->json + "\n", req.version());
}

bool is_watch(const request& req) {
    if (req.method() != http::verb::get) return false;
    std::string_view target = req.target();
    const auto q = target.find('?');
    if (q == std::string_view::npos || target.substr(0, q) != "/v1/nodes") return false;
    auto parsed = parse_list_query(req);
    auto* query = std::get_if<list_query>(&parsed);
    return query && query->watch;
}

response handle(const request& req, const request_context& ctx, coordinator_state& state) {
    try {
        return route(req, ctx, state);
    } catch (const registry_unavailable& e) {
        // Nothing was written (each change is one transaction); the client asks again.
        proto::log_error(std::string("the node registry cannot be written, answering 503: ") + e.what());
        response res = error_response(http::status::service_unavailable, "registry_unavailable",
                                      "the coordinator cannot record anything now (its disk is full or read-only); "
                                      "nothing was changed, try again after the Retry-After seconds",
                                      req.version());
        res.set(http::field::retry_after, "30");
        return res;
    } catch (const std::exception& e) {
        proto::log_error(std::string("internal error handling ") + std::string(req.method_string()) + " " +
                         std::string(req.target().substr(0, 200)) + ": " + e.what());
        return error_response(http::status::internal_server_error, "internal",
                              "the coordinator failed to handle this request; its journal has the details", req.version());
    }
}

}  // namespace graft::coordinator
