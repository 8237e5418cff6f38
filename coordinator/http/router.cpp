#include "coordinator/http/router.hpp"

#include "coordinator/dashboard/assets.hpp"
#include "coordinator/http/listing.hpp"
#include "coordinator/status/metrics.hpp"
#include "coordinator/store/phase_change.hpp"

#include "proto/log.hpp"
#include "proto/message_ids.hpp"
#include "proto/messages.hpp"
#include "proto/pki.hpp"
#include "proto/version.hpp"

#include <boost/beast/http/field.hpp>

#include <charconv>
#include <variant>

namespace graft::coordinator {
namespace {

// Journal excerpts kept per node: enough for the last few failures of each unit, bounded whatever the node sends.
constexpr std::size_t kept_excerpts = 16;

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
            metrics().enrollment("rate_limited");
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
        metrics().enrollment(code);
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
        metrics().enrollment("pending_approval");
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
        metrics().enrollment(cloned ? "machine_id_cloned" : "identity_conflict");
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

    metrics().enrollment("accepted");
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
    if (!body.steps.empty()) {
        proto::json steps = proto::json::array();
        for (const auto& step : body.steps) steps.push_back(step.to_json());
        state.registry.record_steps(name, steps.dump());
    }
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
    metrics().join_issued();
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

// Excerpts of a node's journal it sends, after a failure or when an operator asked.
response upload_journal(const request& req, coordinator_state& state, const std::string& name) {
    auto parsed = read_body<proto::journal_upload>(req, proto::journal_upload::from_json);
    if (auto* err = std::get_if<response>(&parsed)) return std::move(*err);
    const auto& upload = std::get<proto::journal_upload>(parsed);
    std::vector<stored_excerpt> excerpts;
    for (const auto& e : upload.excerpts)
        excerpts.push_back({e.unit, proto::to_unix(*proto::from_rfc3339(e.captured_at)), e.to_json().dump()});
    if (!state.registry.add_journal(name, excerpts, kept_excerpts))
        return error_response(http::status::not_found, "unknown_node", "no node named " + name, req.version());
    if (!upload.request_id.empty() && state.journal_asks) state.journal_asks->answered(name, upload.request_id);
    proto::log_info("node " + name + " sent " + std::to_string(excerpts.size()) + " journal excerpt(s)" +
                        (upload.request_id.empty() ? "" : " for request " + upload.request_id),
                    {{"GRAFT_NODE", name}});
    return json_response(http::status::ok, proto::json{{"kept", excerpts.size()}}, req.version());
}

// A node's agent checking in once its work is done: the answer hands it the journal requests waiting for it.
response heartbeat(const request& req, coordinator_state& state, const std::string& name) {
    proto::json asked = proto::json::array();
    if (state.journal_asks)
        for (const auto& r : state.journal_asks->take(name, proto::to_unix(state.now())))
            asked.push_back({{"id", r.id}, {"unit", r.unit}, {"lines", r.lines}});
    return json_response(http::status::ok, proto::json{{"journal_requests", std::move(asked)}}, req.version());
}

// POST /v1/nodes/NAME/journal-requests: an operator asks the node's agent for fresh journal excerpts.
response ask_for_journal(const request& req, const request_context& ctx, coordinator_state& state, const std::string& name) {
    if (!state.journal_asks)
        return error_response(http::status::not_found, "not_found", "this coordinator takes no journal requests",
                              req.version());
    if (!state.registry.find(name))
        return error_response(http::status::not_found, "unknown_node", "no node named " + name, req.version());
    std::string unit;
    std::size_t lines = 200;
    try {
        const auto body = proto::parse_json(req.body().empty() ? "{}" : req.body());
        proto::object_reader r(body, "");
        unit = r.optional_string("unit").value_or("");
        if (auto n = r.optional_integer("lines")) {
            if (*n < 1 || *n > static_cast<std::int64_t>(proto::max_journal_lines))
                throw proto::validation_error("lines", "must be from 1 to " + std::to_string(proto::max_journal_lines));
            lines = static_cast<std::size_t>(*n);
        }
        r.finish();
        if (!unit.empty() && !proto::is_unit_name(unit)) throw proto::validation_error("unit", "is not a systemd unit name");
    } catch (const proto::validation_error& e) {
        return error_response(http::status::bad_request, "invalid_request", e.what(), req.version());
    }
    auto asked = state.journal_asks->ask(name, unit, lines, ctx.client_operator.value_or("?"), proto::to_unix(state.now()));
    if (!asked)
        return error_response(http::status::too_many_requests, "too_many_journal_requests",
                              name + " has " + std::to_string(journal_requests::max_pending) +
                                  " journal requests waiting already; wait for its agent to answer them",
                              req.version());
    proto::log_info("operator " + asked->asked_by + " asked " + name + " for its journal (request " + asked->id + ")",
                    {{"GRAFT_NODE", name}});
    return json_response(http::status::accepted, proto::json{{"id", asked->id}, {"node", name}, {"state", "pending"}},
                         req.version());
}

response journal_request_state(const request& req, coordinator_state& state, const std::string& name,
                               const std::string& id) {
    auto found = state.journal_asks ? state.journal_asks->find(name, id) : std::nullopt;
    if (!found)
        return error_response(http::status::not_found, "unknown_journal_request",
                              "no journal request " + id.substr(0, 32) + " for " + name + " (requests are kept for " +
                                  std::to_string(journal_requests::kept_seconds / 60) + " minutes)",
                              req.version());
    return json_response(http::status::ok,
                         proto::json{{"id", found->id}, {"node", name}, {"state", to_string(found->state)},
                                     {"asked_by", found->asked_by},
                                     {"asked_at", proto::to_rfc3339(proto::from_unix(found->asked_at))}},
                         req.version());
}

// GET /v1/nodes/NAME/journal[?unit=U][&lines=N]: the kept excerpts, oldest first, each cut to its last N lines.
response read_journal(const request& req, coordinator_state& state, const std::string& name) {
    if (!state.registry.find(name))
        return error_response(http::status::not_found, "unknown_node", "no node named " + name, req.version());
    auto pairs = query_pairs(req.target());
    if (auto* message = std::get_if<std::string>(&pairs))
        return error_response(http::status::bad_request, "invalid_query", *message, req.version());
    // The first of each parameter counts; others are left alone.
    auto first = [&](std::string_view key) -> std::optional<std::string> {
        for (const auto& [k, v] : std::get<0>(pairs))
            if (k == key) return v;
        return std::nullopt;
    };
    const auto unit = first("unit");
    std::size_t lines = proto::max_journal_lines;
    if (auto text = first("lines")) {
        std::size_t n = 0;
        auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
        if (ec != std::errc{} || end != text->data() + text->size() || n < 1 || n > proto::max_journal_lines)
            return error_response(http::status::bad_request, "invalid_query",
                                  "lines must be a whole number from 1 to " + std::to_string(proto::max_journal_lines),
                                  req.version());
        lines = n;
    }
    proto::json out{{"node", name}, {"excerpts", proto::json::array()}};
    for (const auto& stored : state.registry.journal(name)) {
        if (unit && stored.unit != *unit && stored.unit != *unit + ".service") continue;
        auto excerpt = proto::parse_json(stored.excerpt_json);
        auto& kept = excerpt["lines"];
        if (kept.size() > lines) {
            kept.erase(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(kept.size() - lines));
            excerpt["truncated"] = true;
        }
        out["excerpts"].push_back(std::move(excerpt));
    }
    return json_response(http::status::ok, out, req.version());
}

// GET /v1/nodes/NAME/details: what `describe node` shows. The node's status, its facts, the phases it passed
// through with their times, each step's outcome, its join credential and the journal excerpts kept for it.
response node_details(const request& req, coordinator_state& state, const std::string& name) {
    auto node = state.registry.find(name);
    if (!node) return error_response(http::status::not_found, "unknown_node", "no node named " + name, req.version());
    proto::json status = to_status(*node, state).to_json();
    if (state.snapshot)
        if (auto entry = state.snapshot->find(name)) status = proto::parse_json(state.snapshot->json_of(*entry));
    proto::json history = proto::json::array();
    for (const auto& [phase, reason, at] : state.registry.history(name))
        history.push_back({{"phase", phase}, {"reason", reason}, {"at", proto::to_rfc3339(proto::from_unix(at))}});
    proto::json join = proto::json::object();
    if (node->join_issued_at) {
        join["command"] = node->join_command;
        join["issued_at"] = proto::to_rfc3339(proto::from_unix(*node->join_issued_at));
        join["credential"] = node->join_credential;
        join["expires_at"] = node->join_expires_at ? proto::to_rfc3339(proto::from_unix(*node->join_expires_at)) : "";
        // A credential is cleared once revoked, when the node became Ready (the static backend's shared token has
        // no id, and is never revoked for one node).
        join["revoked"] = node->join_credential.empty() && node->phase == "ready";
    }
    proto::json journal = proto::json::array();
    for (const auto& stored : state.registry.journal(name)) {
        auto excerpt = proto::parse_json(stored.excerpt_json);
        journal.push_back({{"unit", stored.unit},
                           {"captured_at", excerpt.value("captured_at", "")},
                           {"cause", excerpt.value("cause", "")},
                           {"lines", excerpt["lines"].size()}});
    }
    proto::json facts = proto::json::object();
    try {
        facts = proto::parse_json(node->facts_json);
    } catch (const proto::validation_error&) {
    }
    proto::json steps = proto::json::array();
    try {
        steps = proto::parse_json(node->steps_json);
    } catch (const proto::validation_error&) {
    }
    proto::json out{{"status", std::move(status)}, {"facts", std::move(facts)}, {"history", std::move(history)},
                    {"steps", std::move(steps)},   {"join", std::move(join)},   {"journal", std::move(journal)}};
    if (state.cluster) out["cluster"] = state.cluster->to_json();
    return json_response(http::status::ok, out, req.version());
}

// The dashboard's page and files: anyone may load them; what they read needs an operator's session.
response dashboard_file(const request& req, const dashboard_asset& asset) {
    response res{http::status::ok, req.version()};
    res.set(http::field::content_type, asset.content_type);
    res.set(http::field::cache_control, "no-cache");
    res.set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.body() = std::string(asset.body);
    res.prepare_payload();
    return res;
}

// POST /v1/dashboard/sessions: an operator (over their certificate) gets a one-time sign-in token for a browser.
response dashboard_sign_in(const request& req, const request_context& ctx, coordinator_state& state) {
    if (!state.sessions) return error_response(http::status::not_found, "not_found", "this coordinator has no dashboard", req.version());
    auto grant = state.sessions->issue_token(*ctx.client_operator, proto::to_unix(state.now()));
    proto::log_info("operator " + *ctx.client_operator + " asked for a dashboard sign-in link");
    return json_response(http::status::ok,
                         proto::json{{"token", grant.token},
                                     {"expires_at", proto::to_rfc3339(proto::from_unix(grant.expires_at))}},
                         req.version());
}

// POST /v1/dashboard/login: the page spends the sign-in token for a session cookie.
response dashboard_login(const request& req, const request_context& ctx, coordinator_state& state) {
    std::string token;
    try {
        const auto body = proto::parse_json(req.body());
        proto::object_reader r(body, "");
        token = r.required_string("token");
        r.finish();
    } catch (const proto::validation_error& e) {
        return error_response(http::status::bad_request, "invalid_request", e.what(), req.version());
    }
    auto session = state.sessions ? state.sessions->redeem(token, proto::to_unix(state.now())) : std::nullopt;
    if (!session) {
        proto::log_warning("a dashboard sign-in from " + ctx.remote_address + " had an unknown, spent or expired link");
        return error_response(http::status::unauthorized, "sign_in_link_invalid",
                              "this sign-in link is unknown, used already or older than five minutes; run "
                              "`graft-coordinator dashboard` for a new one",
                              req.version());
    }
    proto::log_info("operator " + session->second + " signed in to the dashboard from " + ctx.remote_address);
    response res = json_response(http::status::ok, proto::json{{"operator", session->second}}, req.version());
    res.set(http::field::set_cookie, dashboard_sessions::cookie(session->first));
    return res;
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

std::string_view path_of(const request& req) {
    std::string_view target = req.target();
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    return target;
}

// Whether the request reads the fleet, or asks something of it only an operator may.
bool is_operators(const request& req) {
    const std::string_view path = path_of(req);
    if (path == "/metrics" || path == "/v1/nodes" || path == "/v1/dashboard/sessions") return true;
    constexpr std::string_view nodes_prefix = "/v1/nodes/";
    if (!path.starts_with(nodes_prefix)) return false;
    const auto slash = path.find('/', nodes_prefix.size());
    if (slash == std::string_view::npos) return true;
    const std::string_view action = path.substr(slash + 1);
    return action == "details" || action.starts_with("journal-requests") ||
           (action == "journal" && req.method() == http::verb::get);
}

response route(const request& req, const request_context& ctx, coordinator_state& state) {
    const std::string_view target = path_of(req);
    const bool get = req.method() == http::verb::get, post = req.method() == http::verb::post;
    if (auto refusal = refuse_unless_operator(req, ctx)) return std::move(*refusal);

    if (target == "/healthz") {
        if (!get) return method_not_allowed(req, "GET");
        static const std::string health = proto::json{{"status", "ok"},
                                                      {"version", proto::graft_version},
                                                      {"protocol", proto::protocol_version}}.dump() + "\n";
        return serialized_json(health, req.version());
    }
    if (target == "/metrics") {
        if (!get) return method_not_allowed(req, "GET");
        response res{http::status::ok, req.version()};
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.set(http::field::cache_control, "no-store");
        res.body() = metrics().render(state.snapshot, state.cluster);
        res.prepare_payload();
        return res;
    }
    if (target == "/v1/enroll") return post ? enroll(req, ctx, state) : method_not_allowed(req, "POST");
    if (auto asset = find_dashboard_asset(target)) return get ? dashboard_file(req, *asset) : method_not_allowed(req, "GET");
    if (target == "/v1/dashboard/sessions") return post ? dashboard_sign_in(req, ctx, state) : method_not_allowed(req, "POST");
    if (target == "/v1/dashboard/login") return post ? dashboard_login(req, ctx, state) : method_not_allowed(req, "POST");
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
                return serialized_json(state.snapshot->json_of(*entry) + "\n", req.version());
            }
            auto node = state.registry.find(name);
            if (!node) return error_response(http::status::not_found, "unknown_node", "no node named " + name, req.version());
            return json_response(http::status::ok, to_status(*node, state).to_json(), req.version());
        }
        if (action == "details") return get ? node_details(req, state, name) : method_not_allowed(req, "GET");
        if (action == "journal-requests") return post ? ask_for_journal(req, ctx, state, name) : method_not_allowed(req, "POST");
        if (action.starts_with("journal-requests/"))
            return get ? journal_request_state(req, state, name, std::string(action.substr(17)))
                       : method_not_allowed(req, "GET");
        if (action == "journal" && get) return read_journal(req, state, name);
        if (action == "report" || action == "join" || action == "renew" || action == "journal" || action == "heartbeat") {
            if (!post) return method_not_allowed(req, action == "journal" ? "GET, POST" : "POST");
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
            if (action == "journal") return upload_journal(req, state, name);
            if (action == "heartbeat") return heartbeat(req, state, name);
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

std::optional<response> refuse_unless_operator(const request& req, const request_context& ctx) {
    if (ctx.client_operator || !is_operators(req)) return std::nullopt;
    if (ctx.client_node)
        return error_response(http::status::forbidden, "operator_required",
                              "the client certificate is node " + *ctx.client_node +
                                  "'s, and a node's certificate only writes that node's own reports; reading the fleet "
                                  "takes an operator's credentials (`graft-coordinator operator add NAME`)",
                              req.version());
    return error_response(http::status::unauthorized, "operator_certificate_required",
                          (ctx.certificate_problem.empty() ? std::string() : ctx.certificate_problem + ". ") +
                              "Reading the fleet takes an operator's client certificate: make one on the coordinator "
                              "with `graft-coordinator operator add NAME` and use its credentials file",
                          req.version());
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
