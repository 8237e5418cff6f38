#include "coordinator/enroll/authority.hpp"
#include "coordinator/enroll/tokens.hpp"
#include "coordinator/http/router.hpp"
#include "coordinator/store/registry.hpp"
#include "proto/pki.hpp"

#include "support/support.hpp"
#include "support/test_registry.hpp"

#include <catch2/catch.hpp>

using namespace graft;
using namespace graft::coordinator;
namespace http = boost::beast::http;

namespace {

// A join backend that fails the way an unreachable control plane does.
struct failing_backend : join_backend {
    proto::join_spec issue(const node_record&, const proto::join_request&) override {
        throw join_error("kubeadm token create exited with status 1: couldn't reach the API server");
    }
};

struct fixture {
    test::registry_place place;
    const test::temp_dir& dir = place.dir;
    std::unique_ptr<node_registry> registry = place.open();
    certificate_authority ca = certificate_authority::create(dir.path().string(), std::chrono::hours(24));
    std::unique_ptr<join_backend> joins = make_static_backend(
        "10.0.0.1:6443", "abcdef.0123456789abcdef", {"sha256:" + std::string(64, '1')});
    coordinator_state state{*registry, ca, *joins};
    new_token token = make_enrollment_token(proto::clock::now(), std::chrono::hours(1), std::nullopt);
    proto::pkey_ptr node_key = proto::generate_p256_key();

    fixture() { registry->add_token(token.stored); }

    // With `node`, as that node's newest certificate (or the one of `serial`) would call.
    response call(http::verb verb, std::string target, std::string body, std::optional<std::string> node = {},
                  std::optional<std::string> serial = {}) {
        request req{verb, target, 11};
        req.body() = std::move(body);
        req.prepare_payload();
        if (node && !serial) serial = registry->find(*node) ? registry->find(*node)->certificate_serial : "";
        return handle(req, {std::move(node), "192.0.2.7", serial.value_or("")}, state);
    }

    // A read of the fleet, as an operator's certificate makes it.
    response read(http::verb verb, std::string target, std::string body = {}) {
        request req{verb, target, 11};
        req.body() = std::move(body);
        req.prepare_payload();
        request_context ctx{std::nullopt, "192.0.2.9"};
        ctx.client_operator = "alice";
        return handle(req, ctx, state);
    }

    proto::json enroll_body(std::string machine_id = std::string(32, 'a'), std::string csr_name = "raspberrypi") {
        proto::enroll_request r;
        r.protocol_version = 1;
        r.enrollment_token = token.text;
        r.csr_pem = proto::make_csr_pem(*node_key, csr_name);
        r.facts.machine_id = std::move(machine_id);
        r.facts.arch = "aarch64";
        return r.to_json();
    }
};

std::string error_code(const response& res) { return proto::error_body::from_json(proto::parse_json(res.body())).code; }
std::string error_message(const response& res) { return proto::error_body::from_json(proto::parse_json(res.body())).message; }

}  // namespace

TEST_CASE("enrollment returns a certificate for the assigned name, whatever the CSR asked for", "[registry]") {
    fixture f;
    auto res = f.call(http::verb::post, "/v1/enroll", f.enroll_body(std::string(32, 'a'), "node-7").dump());
    REQUIRE(res.result() == http::status::ok);
    auto body = proto::enroll_response::from_json(proto::parse_json(res.body()));
    CHECK(body.node_name == "node-1");
    auto cert = proto::certificate_from_pem(body.certificate_pem);
    CHECK(proto::subject_common_name(*cert) == "node-1");
    CHECK(proto::certificate_matches_key(*cert, *f.node_key));
    CHECK(body.ca_certificate_pem == f.ca.ca_pem());
    CHECK(f.registry->find("node-1")->address == "192.0.2.7");
}

TEST_CASE("a wrong, unknown or malformed enrollment token gets 401 and creates no node", "[registry]") {
    fixture f;
    // The last character changed (to one it is not), so the secret is wrong whatever it was.
    const std::string wrong_last = f.token.text.back() == 'x' ? "y" : "x";
    for (std::string token : {f.token.text.substr(0, f.token.text.size() - 1) + wrong_last, std::string("zzzzzzzz.abc"),
                              std::string("no-dot-at-all")}) {
        auto body = f.enroll_body();
        body["enrollment_token"] = token;
        auto res = f.call(http::verb::post, "/v1/enroll", body.dump());
        CHECK(res.result() == http::status::unauthorized);
        CHECK(error_code(res) == "invalid_enrollment_token");
    }
    CHECK(f.registry->list().empty());
}

TEST_CASE("an expired enrollment token gets 401 saying so, and creates no node", "[registry]") {
    fixture f;
    f.state.now = [] { return proto::clock::now() + std::chrono::hours(2); };
    auto res = f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump());
    CHECK(res.result() == http::status::unauthorized);
    CHECK(error_code(res) == "enrollment_token_expired");
    CHECK_THAT(error_message(res), Catch::Contains("boot-config"));
    CHECK(f.registry->list().empty());
}

TEST_CASE("a request of another protocol version is refused with both versions named", "[registry]") {
    fixture f;
    auto body = f.enroll_body();
    body["protocol_version"] = 2;
    auto res = f.call(http::verb::post, "/v1/enroll", body.dump());
    CHECK(res.result() == http::status::bad_request);
    CHECK_THAT(error_message(res), Catch::Contains("version 1") && Catch::Contains("sent 2"));
}

TEST_CASE("a bad body gets 400 naming the field, and nothing is written", "[registry]") {
    fixture f;
    auto body = f.enroll_body();
    body["facts"]["arch"] = 64;
    auto res = f.call(http::verb::post, "/v1/enroll", body.dump());
    CHECK(res.result() == http::status::bad_request);
    CHECK(error_message(res) == "field 'facts.arch': expected a string, got an integer");
    res = f.call(http::verb::post, "/v1/enroll", "{\"protocol_version\": 1,");
    CHECK(res.result() == http::status::bad_request);
    CHECK_THAT(error_message(res), Catch::StartsWith("malformed JSON"));
    // A number past a double's range was a 500 and an error log line; a repeated key was read as its last value.
    auto text = f.enroll_body().dump();
    text.insert(text.size() - 1, ",\"protocol_version\": 1e400");
    res = f.call(http::verb::post, "/v1/enroll", text);
    CHECK(res.result() == http::status::bad_request);
    CHECK(error_message(res) == "field 'protocol_version': is a number out of range");
    text = f.enroll_body().dump();
    text.insert(text.size() - 1, ",\"enrollment_token\": \"other\"");
    res = f.call(http::verb::post, "/v1/enroll", text);
    CHECK(res.result() == http::status::bad_request);
    CHECK(error_message(res) == "field 'enrollment_token': appears twice; give each field once");
    CHECK(f.registry->list().empty());
}

TEST_CASE("node endpoints need the node's own certificate", "[registry]") {
    fixture f;
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    const std::string report = proto::node_report{proto::phase::joining, "", std::nullopt}.to_json().dump();

    auto res = f.call(http::verb::post, "/v1/nodes/node-1/report", report);
    CHECK(res.result() == http::status::unauthorized);
    CHECK(error_code(res) == "client_certificate_required");

    res = f.call(http::verb::post, "/v1/nodes/node-1/report", report, "node-2");
    CHECK(res.result() == http::status::forbidden);
    CHECK(error_message(res) == "the client certificate belongs to node-2, not to node-1");
    CHECK(f.registry->find("node-1")->phase == "enrolled");

    res = f.call(http::verb::post, "/v1/nodes/node-1/report", report, "node-1");
    CHECK(res.result() == http::status::ok);
    CHECK(f.registry->find("node-1")->phase == "joining");
}

TEST_CASE("a node cannot report a phase only the coordinator or the cluster sets", "[registry]") {
    fixture f;
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    for (const char* phase : {"pending_approval", "flashed", "ready", "deleted", "denied"}) {
        INFO(phase);
        auto res = f.call(http::verb::post, "/v1/nodes/node-1/report", std::string(R"({"phase":")") + phase + "\"}", "node-1");
        CHECK(res.result() == http::status::bad_request);
        CHECK_THAT(error_message(res), Catch::Contains("field 'phase'"));
        CHECK(f.registry->find("node-1")->phase == "enrolled");
    }
}

TEST_CASE("a join request returns the node's own spec and records it redacted", "[registry]") {
    fixture f;
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    auto res = f.call(http::verb::post, "/v1/nodes/node-1/join", "{}", "node-1");
    REQUIRE(res.result() == http::status::ok);
    auto spec = proto::join_spec::from_json(proto::parse_json(res.body()));
    CHECK(spec.node_name == "node-1");
    CHECK(spec.token == "abcdef.0123456789abcdef");
    auto node = f.registry->find("node-1");
    CHECK(node->join_command.find("0123456789abcdef") == std::string::npos);
    CHECK(node->join_issued_at.has_value());

    // The status listing never carries the secret.
    auto list = f.read(http::verb::get, "/v1/nodes");
    CHECK(list.body().find("0123456789abcdef") == std::string::npos);
    CHECK(list.body().find("abcdef.****************") != std::string::npos);
}

TEST_CASE("a failing join backend gives 503 with Retry-After and the reason", "[registry]") {
    fixture f;
    failing_backend failing;
    coordinator_state state{*f.registry, f.ca, failing};
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    request req{http::verb::post, "/v1/nodes/node-1/join", 11};
    req.body() = "{}";
    auto res = handle(req, {"node-1", "127.0.0.1", f.registry->find("node-1")->certificate_serial}, state);
    CHECK(res.result() == http::status::service_unavailable);
    CHECK(res[http::field::retry_after] == "30");
    CHECK_THAT(error_message(res), Catch::Contains("couldn't reach the API server"));
}

TEST_CASE("unknown paths, nodes and methods get 404 and 405", "[registry]") {
    fixture f;
    CHECK(f.call(http::verb::get, "/v2/nodes", "").result() == http::status::not_found);
    CHECK(f.read(http::verb::get, "/v1/nodes/node-9").result() == http::status::not_found);
    CHECK(f.read(http::verb::get, "/v1/nodes/NODE").result() == http::status::not_found);
    auto res = f.call(http::verb::get, "/v1/enroll", "");
    CHECK(res.result() == http::status::method_not_allowed);
    CHECK(res[http::field::allow] == "POST");
    CHECK(f.call(http::verb::get, "/healthz", "").result() == http::status::ok);
}

namespace {
// A new token of the fixture's registry that allows one use.
std::string one_use_token(fixture& f) {
    auto once = make_enrollment_token(proto::clock::now(), std::chrono::hours(1), 1);
    f.registry->add_token(once.stored);
    return once.text;
}
proto::json with_token(proto::json body, const std::string& token) {
    body["enrollment_token"] = token;
    return body;
}
}  // namespace

TEST_CASE("an enrollment asked again after a lost answer gets the same certificate and spends no use of the token", "[registry]") {
    fixture f;
    const auto once = one_use_token(f);
    const auto body = with_token(f.enroll_body(), once);
    auto first = f.call(http::verb::post, "/v1/enroll", body.dump());
    REQUIRE(first.result() == http::status::ok);
    // The answer is lost on the way; the agent retries with the same key, token and machine-id.
    auto again = f.call(http::verb::post, "/v1/enroll", body.dump());
    REQUIRE(again.result() == http::status::ok);
    const auto a = proto::enroll_response::from_json(proto::parse_json(first.body()));
    const auto b = proto::enroll_response::from_json(proto::parse_json(again.body()));
    CHECK(b.node_name == a.node_name);
    CHECK(b.certificate_pem == a.certificate_pem);
    CHECK(f.registry->history("node-1").size() == 1);
    CHECK(f.registry->list().size() == 1);

    // The one use is spent all the same: another machine, or this machine with another key, is refused.
    const auto other = with_token(f.enroll_body(std::string(32, 'b')), once);
    CHECK(error_code(f.call(http::verb::post, "/v1/enroll", other.dump())) == "enrollment_token_used_up");
    f.node_key = proto::generate_p256_key();
    CHECK(error_code(f.call(http::verb::post, "/v1/enroll", with_token(f.enroll_body(), once).dump())) ==
          "enrollment_token_used_up");
}

TEST_CASE("once the node has reported, the same enrollment is no longer a repeat", "[registry]") {
    fixture f;
    const auto body = with_token(f.enroll_body(), one_use_token(f));
    REQUIRE(f.call(http::verb::post, "/v1/enroll", body.dump()).result() == http::status::ok);
    REQUIRE(f.registry->record_phase("node-1", "configuring", "", std::nullopt, proto::to_unix(proto::clock::now())));
    CHECK(error_code(f.call(http::verb::post, "/v1/enroll", body.dump())) == "enrollment_token_used_up");
    CHECK(f.registry->find("node-1")->phase == "configuring");
}

TEST_CASE("enrollment never hands out a name a Node in the cluster already has", "[registry]") {
    fixture f;
    f.state.name_in_cluster = [](const std::string& name) { return name == "node-1" || name == "node-2"; };
    auto res = f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump());
    REQUIRE(res.result() == http::status::ok);
    CHECK(proto::enroll_response::from_json(proto::parse_json(res.body())).node_name == "node-3");
}

TEST_CASE("a certificate superseded by a new enrollment no longer speaks for the node, on report and join alike", "[registry]") {
    fixture f;
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    const std::string old_serial = f.registry->find("node-1")->certificate_serial;
    // The same machine enrolls again (re-flashed: a new key, which the operator accepted), and is given a new
    // certificate.
    f.node_key = proto::generate_p256_key();
    REQUIRE(f.registry->allow_replacement("node-1"));
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    REQUIRE(f.registry->find("node-1")->certificate_serial != old_serial);

    const std::string report = R"({"phase": "configuring"})";
    auto res = f.call(http::verb::post, "/v1/nodes/node-1/report", report, "node-1", old_serial);
    CHECK(res.result() == http::status::forbidden);
    CHECK(error_code(res) == "certificate_superseded");
    CHECK_THAT(error_message(res), Catch::Contains(old_serial) && Catch::Contains("enrolled again"));
    res = f.call(http::verb::post, "/v1/nodes/node-1/join", R"({"kubelet_version": "v1.29.3"})", "node-1", old_serial);
    CHECK(error_code(res) == "certificate_superseded");
    CHECK(f.registry->find("node-1")->phase == "enrolled");
    // The newest certificate does.
    CHECK(f.call(http::verb::post, "/v1/nodes/node-1/report", report, "node-1").result() == http::status::ok);
}

TEST_CASE("a deleted node cannot un-delete itself by reporting, and gets no join credential", "[registry]") {
    fixture f;
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    REQUIRE(f.registry->record_phase("node-1", "deleted", "its Node object was deleted from the cluster", std::nullopt, 1));
    for (const char* phase : {"joined", "configuring", "failed", "joining"}) {
        INFO(phase);
        auto res = f.call(http::verb::post, "/v1/nodes/node-1/report", std::string(R"({"phase": ")") + phase + "\"}", "node-1");
        CHECK(res.result() == http::status::ok);
        CHECK(proto::node_status::from_json(proto::parse_json(res.body())).phase == "deleted");
    }
    CHECK(f.registry->find("node-1")->phase == "deleted");
    auto res = f.call(http::verb::post, "/v1/nodes/node-1/join", R"({"kubelet_version": "v1.29.3"})", "node-1");
    CHECK(res.result() == http::status::forbidden);
    CHECK(error_code(res) == "node_deleted");
    CHECK(f.registry->find("node-1")->join_command.empty());
}

namespace {
// The enrollment body of the fixture's key, from a board with this serial number.
proto::json from_board(fixture& f, const std::string& serial, std::string machine_id = std::string(32, 'a')) {
    auto body = f.enroll_body(std::move(machine_id));
    body["facts"]["serial"] = serial;
    return body;
}
std::optional<std::int64_t> uses_left(fixture& f, const std::string& token_id) {
    for (const auto& t : f.registry->tokens())
        if (t.id == token_id) return t.uses_left;
    FAIL("no token " << token_id);
    return std::nullopt;
}
proto::enroll_response enrolled(const response& res) {
    REQUIRE(res.result() == http::status::ok);
    return proto::enroll_response::from_json(proto::parse_json(res.body()));
}
}  // namespace

TEST_CASE("a stolen machine-id with another key is refused as a conflict, shown on the node, and changes nothing", "[registry]") {
    fixture f;
    const auto first = enrolled(f.call(http::verb::post, "/v1/enroll", from_board(f, "10000000a1b2c3d4").dump()));
    const auto before = *f.registry->find("node-1");
    const auto uses_before = f.registry->tokens().front().used;

    // Someone with a token and node-1's machine-id (and its serial), but a key of their own.
    f.node_key = proto::generate_p256_key();
    auto res = f.call(http::verb::post, "/v1/enroll", from_board(f, "10000000a1b2c3d4").dump());
    CHECK(res.result() == http::status::conflict);
    CHECK(error_code(res) == "identity_conflict");
    CHECK_THAT(error_message(res), Catch::Contains("node-1") && Catch::Contains("nodes replace node-1"));
    CHECK(res.body().find("BEGIN CERTIFICATE") == std::string::npos);

    const auto after = *f.registry->find("node-1");
    CHECK(after.certificate_serial == before.certificate_serial);
    CHECK(after.key_pin == before.key_pin);
    CHECK(after.phase == before.phase);
    CHECK(f.registry->tokens().front().used == uses_before);
    CHECK(f.registry->list().size() == 1);
    // The operator sees it on the node, with the way to accept it.
    auto status = proto::node_status::from_json(proto::parse_json(f.read(http::verb::get, "/v1/nodes/node-1").body()));
    CHECK_THAT(status.conflict, Catch::Contains("192.0.2.7") && Catch::Contains("nodes replace node-1"));
    // The real node still speaks with its certificate.
    CHECK(f.call(http::verb::post, "/v1/nodes/node-1/report", R"({"phase": "configuring"})", "node-1").result() ==
          http::status::ok);
    CHECK(first.node_name == "node-1");
}

TEST_CASE("nodes replace accepts the refused key as the node's re-flash, and the old certificate stops speaking", "[registry]") {
    fixture f;
    enrolled(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()));
    const std::string old_serial = f.registry->find("node-1")->certificate_serial;
    f.node_key = proto::generate_p256_key();  // the card was re-flashed: a new key
    REQUIRE(error_code(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump())) == "identity_conflict");

    REQUIRE(f.registry->allow_replacement("node-1"));
    const auto again = enrolled(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()));
    CHECK(again.node_name == "node-1");
    CHECK(proto::certificate_matches_key(*proto::certificate_from_pem(again.certificate_pem), *f.node_key));
    const auto node = *f.registry->find("node-1");
    CHECK(node.conflict.empty());
    CHECK(node.replace_key_pin.empty());
    CHECK(error_code(f.call(http::verb::post, "/v1/nodes/node-1/report", R"({"phase": "configuring"})", "node-1",
                            old_serial)) == "certificate_superseded");

    // The leave was for that key only, and is used up: yet another key is a conflict again.
    f.node_key = proto::generate_p256_key();
    CHECK(error_code(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump())) == "identity_conflict");
}

TEST_CASE("a node showing its current certificate may enroll again with a new key", "[registry]") {
    fixture f;
    enrolled(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()));
    const std::string serial = f.registry->find("node-1")->certificate_serial;
    f.node_key = proto::generate_p256_key();
    request req{http::verb::post, "/v1/enroll", 11};
    req.body() = f.enroll_body().dump();
    req.prepare_payload();
    auto res = handle(req, {std::string("node-1"), "192.0.2.7", serial}, f.state);
    CHECK(enrolled(res).node_name == "node-1");
    CHECK(f.registry->find("node-1")->certificate_serial != serial);
    // A superseded certificate is not enough.
    f.node_key = proto::generate_p256_key();
    req.body() = f.enroll_body().dump();
    req.prepare_payload();
    CHECK(error_code(handle(req, {std::string("node-1"), "192.0.2.7", serial}, f.state)) == "identity_conflict");
}

TEST_CASE("a cloned card on another board is told so, and enrolls as a new node with a fresh machine-id", "[registry]") {
    fixture f;
    enrolled(f.call(http::verb::post, "/v1/enroll", from_board(f, "10000000a1b2c3d4").dump()));
    f.node_key = proto::generate_p256_key();
    auto res = f.call(http::verb::post, "/v1/enroll", from_board(f, "10000000ffff0000").dump());
    CHECK(res.result() == http::status::conflict);
    CHECK(error_code(res) == "machine_id_cloned");
    CHECK_THAT(f.registry->find("node-1")->conflict, Catch::Contains("clone") && Catch::Contains("10000000ffff0000"));

    auto fresh = from_board(f, "10000000ffff0000", std::string(32, 'c'));
    fresh["facts"]["cloned_from"] = std::string(32, 'a');
    CHECK(enrolled(f.call(http::verb::post, "/v1/enroll", fresh.dump())).node_name == "node-2");
    CHECK(f.registry->find("node-1")->machine_id == std::string(32, 'a'));
}

TEST_CASE("a token requiring approval keeps the machine pending until an operator decides", "[registry]") {
    fixture f;
    auto pending_token = make_enrollment_token(proto::clock::now(), std::chrono::hours(1), 2);
    pending_token.stored.approval = approval_mode::required;
    f.registry->add_token(pending_token.stored);
    const auto body = with_token(f.enroll_body(), pending_token.text);

    auto res = f.call(http::verb::post, "/v1/enroll", body.dump());
    CHECK(res.result() == http::status::accepted);
    CHECK(res[http::field::retry_after] == "30");
    auto status = proto::node_status::from_json(proto::parse_json(res.body()));
    CHECK(status.phase == "pending_approval");
    CHECK_THAT(status.reason, Catch::Contains("nodes approve node-1"));
    CHECK(res.body().find("BEGIN CERTIFICATE") == std::string::npos);
    // Asking again while it waits spends no use.
    CHECK(f.call(http::verb::post, "/v1/enroll", body.dump()).result() == http::status::accepted);
    CHECK(uses_left(f, pending_token.stored.id) == 1);

    REQUIRE(f.registry->approve("node-1", proto::to_unix(proto::clock::now())));
    CHECK(enrolled(f.call(http::verb::post, "/v1/enroll", body.dump())).node_name == "node-1");
    CHECK(uses_left(f, pending_token.stored.id) == 1);
    CHECK_FALSE(f.registry->approve("node-1", 0));  // not pending any more

    // Another machine, denied: refused from then on, with the way out named.
    const auto other = with_token(f.enroll_body(std::string(32, 'b')), pending_token.text);
    REQUIRE(f.call(http::verb::post, "/v1/enroll", other.dump()).result() == http::status::accepted);
    REQUIRE(f.registry->deny("node-2", 0));
    res = f.call(http::verb::post, "/v1/enroll", other.dump());
    CHECK(res.result() == http::status::forbidden);
    CHECK(error_code(res) == "enrollment_denied");
    CHECK_THAT(error_message(res), Catch::Contains("nodes delete node-2"));
    CHECK(f.registry->find("node-2")->phase == "denied");
}

TEST_CASE("a token with an allow-list admits only the machines on it, and a revoked token none", "[registry]") {
    fixture f;
    auto listed = make_enrollment_token(proto::clock::now(), std::chrono::hours(1), std::nullopt);
    listed.stored.allow = {"serial:10000000a1b2c3d4", "mac:dc:a6:32:01:02:03"};
    f.registry->add_token(listed.stored);

    auto stranger = with_token(from_board(f, "10000000ffff0000", std::string(32, 'b')), listed.text);
    auto res = f.call(http::verb::post, "/v1/enroll", stranger.dump());
    CHECK(res.result() == http::status::forbidden);
    CHECK(error_code(res) == "enrollment_not_allowed");
    CHECK_THAT(error_message(res), Catch::Contains("10000000ffff0000"));
    CHECK(f.registry->list().empty());

    auto by_mac = with_token(f.enroll_body(std::string(32, 'c')), listed.text);
    by_mac["facts"]["macs"] = {"dc:a6:32:01:02:03"};
    CHECK(enrolled(f.call(http::verb::post, "/v1/enroll", by_mac.dump())).node_name == "node-1");
    CHECK(enrolled(f.call(http::verb::post, "/v1/enroll",
                          with_token(from_board(f, "10000000a1b2c3d4", std::string(32, 'd')), listed.text).dump()))
              .node_name == "node-2");

    REQUIRE(f.registry->revoke_token(listed.stored.id, proto::to_unix(proto::clock::now())));
    res = f.call(http::verb::post, "/v1/enroll",
                 with_token(from_board(f, "10000000a1b2c3d4", std::string(32, 'e')), listed.text).dump());
    CHECK(res.result() == http::status::unauthorized);
    CHECK(error_code(res) == "enrollment_token_revoked");
    CHECK(f.registry->list().size() == 2);
}

TEST_CASE("a deleted node's certificate is refused from the next request on", "[registry]") {
    fixture f;
    enrolled(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()));
    const std::string serial = f.registry->find("node-1")->certificate_serial;
    REQUIRE(f.registry->remove("node-1"));
    for (const char* action : {"report", "join"}) {
        auto res = f.call(http::verb::post, std::string("/v1/nodes/node-1/") + action, R"({})", "node-1", serial);
        CHECK(res.result() == http::status::forbidden);
        CHECK(error_code(res) == "certificate_revoked");
    }
    // Its machine enrolls afresh, under a new name.
    CHECK(enrolled(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump())).node_name == "node-2");
}

TEST_CASE("enrollments beyond an address's bucket get 429 with Retry-After, and write nothing", "[registry]") {
    fixture f;
    rate_limiter limiter(0.5, 2.0);  // 2 at once, then one every 2 s
    f.state.enroll_limiter = &limiter;
    CHECK(f.call(http::verb::post, "/v1/enroll", f.enroll_body(std::string(32, 'a')).dump()).result() == http::status::ok);
    CHECK(f.call(http::verb::post, "/v1/enroll", f.enroll_body(std::string(32, 'b')).dump()).result() == http::status::ok);
    auto res = f.call(http::verb::post, "/v1/enroll", f.enroll_body(std::string(32, 'c')).dump());
    CHECK(res.result() == http::status::too_many_requests);
    CHECK(error_code(res) == "rate_limited");
    CHECK(res[http::field::retry_after] == "2");
    CHECK(f.registry->list().size() == 2);
}

TEST_CASE("a path that is not UTF-8 gets a 404 in valid JSON, not a 500", "[registry]") {
    fixture f;
    for (std::string target : {"/\xe6\xe6/healthz", "/v1/nodes/\xff\xfe"}) {
        auto res = f.read(http::verb::get, target);
        CHECK(res.result() == http::status::not_found);
        CHECK_NOTHROW(proto::parse_json(res.body()));
        CHECK_THAT(error_message(res), Catch::Contains("\xef\xbf\xbd"));
    }
}

TEST_CASE("reading the fleet takes an operator's certificate: none is 401, a node's is 403, on every read endpoint", "[registry]") {
    fixture f;
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    f.state.journal_asks = nullptr;
    const std::vector<std::pair<http::verb, std::string>> reads{
        {http::verb::get, "/v1/nodes"},
        {http::verb::get, "/v1/nodes?watch=true"},
        {http::verb::get, "/v1/nodes/node-1"},
        {http::verb::get, "/v1/nodes/node-1/details"},
        {http::verb::get, "/v1/nodes/node-1/journal"},
        {http::verb::post, "/v1/nodes/node-1/journal-requests"},
        {http::verb::get, "/v1/nodes/node-1/journal-requests/0123456789abcdef"},
        {http::verb::get, "/metrics"}};
    for (const auto& [verb, target] : reads) {
        INFO(target);
        auto anonymous = f.call(verb, target, "{}");
        CHECK(anonymous.result() == http::status::unauthorized);
        CHECK(error_code(anonymous) == "operator_certificate_required");
        CHECK_THAT(error_message(anonymous), Catch::Contains("graft-coordinator operator add NAME"));
        // The node's own certificate, even for its own record.
        auto node = f.call(verb, target, "{}", "node-1");
        CHECK(node.result() == http::status::forbidden);
        CHECK(error_code(node) == "operator_required");
        CHECK(node.body().find("\"nodes\"") == std::string::npos);
    }
    // And an operator's certificate speaks for no node.
    request req{http::verb::post, "/v1/nodes/node-1/report", 11};
    req.body() = R"({"phase": "failed", "message": "forged"})";
    req.prepare_payload();
    request_context ctx{std::nullopt, "192.0.2.9"};
    ctx.client_operator = "alice";
    CHECK(handle(req, ctx, f.state).result() == http::status::unauthorized);
    CHECK(f.registry->find("node-1")->phase == "enrolled");
}

TEST_CASE("a node's journal excerpts are kept, bounded, and read back by unit and lines, and a bad upload keeps nothing", "[registry]") {
    fixture f;
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    proto::journal_excerpt kubelet{"kubelet.service", "join attempt 1 failed", proto::to_rfc3339(proto::clock::now()),
                                   {"06:00:01 kubelet[42]: starting", "06:00:02 kubelet[42]: E1203 cni plugin not initialized"}};
    proto::journal_upload upload{{kubelet}};
    auto res = f.call(http::verb::post, "/v1/nodes/node-1/journal", upload.to_json().dump(), "node-1");
    REQUIRE(res.result() == http::status::ok);

    auto read = proto::parse_json(f.read(http::verb::get, "/v1/nodes/node-1/journal?unit=kubelet&lines=1").body());
    REQUIRE(read.at("excerpts").size() == 1);
    CHECK(read["excerpts"][0]["lines"] == proto::json::array({"06:00:02 kubelet[42]: E1203 cni plugin not initialized"}));
    CHECK(read["excerpts"][0]["truncated"] == true);
    CHECK(proto::parse_json(f.read(http::verb::get, "/v1/nodes/node-1/journal?unit=containerd").body()).at("excerpts").empty());
    CHECK(f.read(http::verb::get, "/v1/nodes/node-1/journal?lines=0").result() == http::status::bad_request);

    // A unit name that is not one, and too many lines: 400 naming the field, and nothing more kept.
    for (auto mutate : std::vector<std::function<void(proto::json&)>>{
             [](proto::json& j) { j["excerpts"][0]["unit"] = "kubelet; rm -rf /"; },
             [](proto::json& j) { j["excerpts"][0]["lines"] = std::vector<std::string>(proto::max_journal_lines + 1, "x"); },
             [](proto::json& j) { j["excerpts"][0]["captured_at"] = "yesterday"; }}) {
        auto bad = upload.to_json();
        mutate(bad);
        auto refused = f.call(http::verb::post, "/v1/nodes/node-1/journal", bad.dump(), "node-1");
        CHECK(refused.result() == http::status::bad_request);
        CHECK_THAT(error_message(refused), Catch::Contains("excerpts[0]."));
    }
    CHECK(f.registry->journal("node-1").size() == 1);

    // However often a node fails, the registry keeps its newest excerpts only.
    for (int i = 0; i < 40; ++i)
        REQUIRE(f.call(http::verb::post, "/v1/nodes/node-1/journal", upload.to_json().dump(), "node-1").result() ==
                http::status::ok);
    CHECK(f.registry->journal("node-1").size() == 16);
}

TEST_CASE("an operator's journal request reaches the node with its next heartbeat, once, and its upload answers it", "[registry]") {
    fixture f;
    auto asks = f.place.open_journal_requests();
    f.state.journal_asks = asks.get();
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    auto asked = f.read(http::verb::post, "/v1/nodes/node-1/journal-requests", R"({"unit": "kubelet", "lines": 50})");
    REQUIRE(asked.result() == http::status::accepted);
    const std::string id = proto::parse_json(asked.body()).at("id");
    CHECK(f.read(http::verb::post, "/v1/nodes/node-1/journal-requests", R"x({"unit": "$(reboot)"})x").result() ==
          http::status::bad_request);

    auto beat = proto::parse_json(f.call(http::verb::post, "/v1/nodes/node-1/heartbeat", "{}", "node-1").body());
    REQUIRE(beat.at("journal_requests").size() == 1);
    CHECK(beat["journal_requests"][0]["unit"] == "kubelet");
    CHECK(beat["journal_requests"][0]["lines"] == 50);
    CHECK(proto::parse_json(f.call(http::verb::post, "/v1/nodes/node-1/heartbeat", "{}", "node-1").body())
              .at("journal_requests").empty());
    CHECK(proto::parse_json(f.read(http::verb::get, "/v1/nodes/node-1/journal-requests/" + id).body())["state"] == "taken");

    proto::journal_upload upload{{{"kubelet.service", "asked for by an operator", proto::to_rfc3339(proto::clock::now()),
                                   {"kubelet[42]: running"}}}, id};
    REQUIRE(f.call(http::verb::post, "/v1/nodes/node-1/journal", upload.to_json().dump(), "node-1").result() ==
            http::status::ok);
    auto state = proto::parse_json(f.read(http::verb::get, "/v1/nodes/node-1/journal-requests/" + id).body());
    CHECK(state["state"] == "answered");
    CHECK(state["asked_by"] == "alice");
}

TEST_CASE("describe's details carry facts, phase history, step outcomes and the join credential", "[registry]") {
    fixture f;
    REQUIRE(f.call(http::verb::post, "/v1/enroll", f.enroll_body().dump()).result() == http::status::ok);
    proto::node_report configured{proto::phase::configured, "node IP 192.0.2.7", std::nullopt,
                                  {{"hostname", "changed", "/etc/hostname"}, {"swap", "unchanged", ""}}};
    REQUIRE(f.call(http::verb::post, "/v1/nodes/node-1/report", configured.to_json().dump(), "node-1").result() ==
            http::status::ok);
    REQUIRE(f.call(http::verb::post, "/v1/nodes/node-1/join", "{}", "node-1").result() == http::status::ok);
    auto d = proto::parse_json(f.read(http::verb::get, "/v1/nodes/node-1/details").body());
    CHECK(d["status"]["phase"] == "configured");
    CHECK(d["facts"]["machine_id"] == std::string(32, 'a'));
    REQUIRE(d["history"].size() >= 2);
    CHECK(d["history"].back()["phase"] == "configured");
    CHECK(d["steps"][0] == proto::json{{"step", "hostname"}, {"outcome", "changed"}, {"detail", "/etc/hostname"}});
    CHECK(d["join"]["credential"] == "");  // the static backend shares one token, with no id of its own
    CHECK(d["join"]["revoked"] == false);
    CHECK(d["join"]["command"].get<std::string>().find("0123456789abcdef") == std::string::npos);
    // A step outcome that is not one is refused, naming it.
    auto bad = configured.to_json();
    bad["steps"][1]["outcome"] = "fine";
    auto refused = f.call(http::verb::post, "/v1/nodes/node-1/report", bad.dump(), "node-1");
    CHECK(refused.result() == http::status::bad_request);
    CHECK_THAT(error_message(refused), Catch::Contains("steps[1].outcome"));
}
