// The node snapshot the status endpoints read, the listing and watch built on it, and the session ticket key file.
#include "coordinator/enroll/tokens.hpp"
#include "coordinator/http/listing.hpp"
#include "coordinator/http/session_tickets.hpp"
#include "coordinator/status/node_snapshot.hpp"
#include "proto/files.hpp"
#include "proto/crypto.hpp"

#include "support/support.hpp"
#include "support/test_registry.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace graft;
using namespace graft::coordinator;
namespace http = boost::beast::http;

namespace {

struct world {
    test::registry_place place;
    std::unique_ptr<node_registry> database = place.open();
    node_snapshot snapshot{*database, false, 8};
    snapshotting_registry registry{*database, snapshot};
    new_token token = make_enrollment_token(proto::clock::now(), std::chrono::hours(1), std::nullopt);
    std::int64_t now = proto::to_unix(proto::clock::now());

    world() { registry.add_token(token.stored); }

    std::string enroll(int i) {
        enrollment e;
        auto dot = token.text.find('.');
        e.token_id = token.text.substr(0, dot);
        e.token_secret = token.text.substr(dot + 1);
        e.facts.machine_id = std::string(31, 'a') + static_cast<char>('a' + i);
        e.facts.arch = "aarch64";
        e.key_pin = "sha256:" + std::string(63, '0') + static_cast<char>('a' + i);
        e.now = now;
        e.issue_certificate = [](const std::string& name) { return std::pair{"PEM " + name, "serial-" + name}; };
        return registry.enroll(e).node.name;
    }
};

std::vector<std::string> names(const node_snapshot::page& p) {
    std::vector<std::string> out;
    for (const auto& n : p.nodes) out.push_back(n->name);
    return out;
}

http::request<http::string_body> get(const std::string& target) { return {http::verb::get, target, 11}; }

std::string full_listing(const list_query& q, const node_snapshot& s) {
    listing_writer w(q, s, nullptr);
    std::string out;
    while (auto piece = w.next()) out += *piece;
    return out;
}

}  // namespace

TEST_CASE("the snapshot follows writes through the registry, in name order, with a change for each", "[registry]") {
    world w;
    for (int i = 0; i < 3; ++i) w.enroll(i);
    CHECK(names(w.snapshot.list("", "", 10)) == std::vector<std::string>{"node-1", "node-2", "node-3"});
    const auto v = w.snapshot.version();
    CHECK(v == 3);

    REQUIRE(w.registry.record_phase("node-2", "joining", "", std::nullopt, w.now + 1));
    REQUIRE(w.registry.remove("node-3"));
    // A write that changes nothing the status shows is no change.
    REQUIRE(w.registry.promote_certificate("node-1", "nothing pending") == false);
    auto changes = w.snapshot.changes_since(v);
    REQUIRE(changes);
    REQUIRE(changes->size() == 2);
    CHECK((*changes)[0].kind == change_kind::modified);
    CHECK((*changes)[0].previous_phase == "enrolled");
    CHECK((*changes)[0].node->phase == "joining");
    CHECK((*changes)[1].kind == change_kind::deleted);
    CHECK((*changes)[1].node->name == "node-3");
    CHECK(w.snapshot.find("node-3") == nullptr);
    CHECK(proto::parse_json(w.snapshot.find("node-2")->json).at("phase") == "joining");
}

TEST_CASE("pages continue after the last name and filter by phase", "[registry]") {
    world w;
    for (int i = 0; i < 5; ++i) w.enroll(i);
    REQUIRE(w.registry.record_phase("node-2", "joining", "", std::nullopt, w.now));
    REQUIRE(w.registry.record_phase("node-5", "joining", "", std::nullopt, w.now));
    auto first = w.snapshot.list("", "", 2);
    CHECK(names(first) == std::vector<std::string>{"node-1", "node-2"});
    CHECK(first.next == "node-2");
    auto last = w.snapshot.list("", "node-4", 2);
    CHECK(names(last) == std::vector<std::string>{"node-5"});
    CHECK(last.next.empty());
    CHECK(names(w.snapshot.list("joining", "", 10)) == std::vector<std::string>{"node-2", "node-5"});

    // The listing body: a page with its continue, and the whole as one valid document however many pieces it takes.
    auto page = proto::parse_json(full_listing({.phase = "", .limit = 3}, w.snapshot));
    CHECK(page.at("nodes").size() == 3);
    CHECK(page.at("metadata").at("continue") == "node-3");
    auto rest = proto::parse_json(full_listing({.phase = "", .limit = 3, .after = "node-3"}, w.snapshot));
    CHECK(rest.at("nodes").size() == 2);
    CHECK_FALSE(rest.at("metadata").contains("continue"));
    CHECK(proto::parse_json(full_listing({}, w.snapshot)).at("nodes").size() == 5);
}

TEST_CASE("a listing of more nodes than one piece holds is still one document, in order", "[registry]") {
    world w;
    for (int i = 0; i < 26; ++i) w.enroll(i);
    for (int extra = 0; extra < 274; ++extra) {
        enrollment e;
        auto dot = w.token.text.find('.');
        e.token_id = w.token.text.substr(0, dot);
        e.token_secret = w.token.text.substr(dot + 1);
        e.facts.machine_id = proto::sha256_hex(std::to_string(extra)).substr(0, 32);
        e.facts.arch = "aarch64";
        e.key_pin = "sha256:" + proto::sha256_hex("k" + std::to_string(extra));
        e.now = w.now;
        e.issue_certificate = [](const std::string& name) { return std::pair{"PEM " + name, "serial-" + name}; };
        REQUIRE(w.registry.enroll(e).verdict == token_verdict::accepted);
    }
    listing_writer writer({}, w.snapshot, nullptr);
    std::string body;
    int pieces = 0;
    while (auto piece = writer.next()) body += *piece, ++pieces;
    CHECK(pieces > 3);  // opening, at least two pieces of nodes, closing
    auto nodes = proto::parse_json(body).at("nodes");
    REQUIRE(nodes.size() == 300);
    for (std::size_t i = 1; i < nodes.size(); ++i) CHECK(nodes[i - 1].at("name") < nodes[i].at("name"));
}

TEST_CASE("a watcher with a phase filter sees nodes enter and leave it, and learns when it fell too far behind", "[registry]") {
    world w;
    w.enroll(0);
    const auto start = w.snapshot.version();
    REQUIRE(w.registry.record_phase("node-1", "joining", "", std::nullopt, w.now));
    REQUIRE(w.registry.record_phase("node-1", "joining", "still", std::nullopt, w.now));
    REQUIRE(w.registry.record_phase("node-1", "failed", "disk full", std::nullopt, w.now));
    list_query joining;
    joining.phase = "joining";
    std::vector<std::string> kinds;
    const auto changes = w.snapshot.changes_since(start);
    REQUIRE(changes);
    for (const auto& c : *changes) {
        auto e = watch_event(c, joining);
        if (!e.empty()) kinds.push_back(e.substr(7, e.find('\n') - 7));
    }
    CHECK(kinds == std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"});

    // Eight changes are kept here: asking from before them is answered with nullopt, never with a gap.
    for (int i = 0; i < 10; ++i)
        REQUIRE(w.registry.record_phase("node-1", "joining", "try " + std::to_string(i), std::nullopt, w.now));
    CHECK_FALSE(w.snapshot.changes_since(start).has_value());
    CHECK(w.snapshot.changes_since(w.snapshot.version() - 8).has_value());
    CHECK(w.snapshot.changes_since(w.snapshot.version())->empty());
}

TEST_CASE("a watcher is woken by each change until it lets go", "[registry]") {
    world w;
    int woken = 0;
    auto handle = w.snapshot.subscribe([&] { ++woken; });
    w.enroll(0);
    REQUIRE(w.registry.record_phase("node-1", "joining", "", std::nullopt, w.now));
    CHECK(woken == 2);
    handle.reset();
    REQUIRE(w.registry.record_phase("node-1", "joined", "", std::nullopt, w.now));
    CHECK(woken == 2);
}

TEST_CASE("a change written by another process reaches the snapshot through reload_if_changed", "[registry]") {
    world w;
    w.enroll(0);
    w.enroll(1);
    CHECK_FALSE(w.snapshot.reload_if_changed());  // our own writes are in already
    {
        auto other = w.place.open();  // an operator's `nodes delete`, or another coordinator
        REQUIRE(other->remove("node-1"));
    }
    CHECK(w.snapshot.find("node-1") != nullptr);
    CHECK(w.snapshot.reload_if_changed());
    CHECK(w.snapshot.find("node-1") == nullptr);
    const auto last = w.snapshot.changes_since(w.snapshot.version() - 1);
    REQUIRE(last);
    CHECK(last->front().kind == change_kind::deleted);
}

TEST_CASE("a listing query names the parameter it refuses", "[registry]") {
    CHECK(std::get<list_query>(parse_list_query(get("/v1/nodes?phase=ready&limit=500&continue=node-12"))).limit == 500);
    auto watch = std::get<list_query>(parse_list_query(get("/v1/nodes?watch=true&resourceVersion=42")));
    CHECK(watch.watch);
    CHECK(watch.since == 42u);
    auto resumed = get("/v1/nodes?watch=1");
    resumed.set("Last-Event-ID", "17");
    CHECK(std::get<list_query>(parse_list_query(resumed)).since == 17u);
    for (const auto& [target, named] : std::vector<std::pair<std::string, std::string>>{
             {"/v1/nodes?limit=0", "'limit'"},
             {"/v1/nodes?limit=10001", "'limit'"},
             {"/v1/nodes?limit=5x", "'limit'"},
             {"/v1/nodes?phase=asleep", "'phase'"},
             {"/v1/nodes?continue=..%2Fetc", "'continue'"},
             {"/v1/nodes?watch=maybe", "'watch'"},
             {"/v1/nodes?resourceVersion=-1", "'resourceVersion'"},
             {"/v1/nodes?phase=%zz", "percent-encoding"},
             {"/v1/nodes?colour=red", "'colour'"}}) {
        INFO(target);
        auto parsed = parse_list_query(get(target));
        REQUIRE(std::holds_alternative<std::string>(parsed));
        CHECK_THAT(std::get<std::string>(parsed), Catch::Contains(named));
    }
}

TEST_CASE("the ticket key file is made private, rotated when due, and a damaged one is refused by line", "[registry]") {
    test::temp_dir dir;
    const std::string path = dir / "ticket-keys";
    boost::asio::ssl::context tls(boost::asio::ssl::context::tls_server);
    session_tickets tickets(path, tls, std::chrono::hours(12));
    CHECK(tickets.key_count() == 1);
    CHECK(std::filesystem::status(path).permissions() ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    const auto first = parse_ticket_keys(test::read(path), path);

    // A second coordinator sharing the file uses the same key rather than making its own.
    boost::asio::ssl::context tls2(boost::asio::ssl::context::tls_server);
    session_tickets second(path, tls2, std::chrono::hours(12));
    CHECK(parse_ticket_keys(test::read(path), path).size() == 1);

    // Age the key by 13 hours: the next refresh adds a newer one and keeps the old to open its tickets; at 25 hours
    // the old one is gone.
    auto aged = first;
    aged[0].created -= 13 * 3600;
    proto::write_file_atomic(path, format_ticket_keys(aged), 0600);
    tickets.refresh();
    auto keys = parse_ticket_keys(test::read(path), path);
    REQUIRE(keys.size() == 2);
    CHECK(keys[1].name == first[0].name);
    CHECK(keys[0].created > keys[1].created);
    for (auto& k : keys) k.created -= 25 * 3600;
    proto::write_file_atomic(path, format_ticket_keys(keys), 0600);
    tickets.refresh();
    keys = parse_ticket_keys(test::read(path), path);
    REQUIRE(keys.size() == 1);
    CHECK(keys[0].name != first[0].name);

    // A damaged file is named with its line, and neither replaced nor half-used.
    const std::string damaged = test::read(path) + "12 not-hex\n";
    proto::write_file_atomic(path, damaged, 0600);
    CHECK_THROWS_WITH(tickets.refresh(), Catch::Contains(path + " line 4"));
    CHECK(test::read(path) == damaged);
    CHECK(tickets.key_count() == 1);
}

TEST_CASE("a node's last-seen time is written into its status, for nodes there are, and forgotten with the node", "[registry]") {
    world w;
    const auto name = w.enroll(0);
    auto entry = w.snapshot.find(name);
    REQUIRE(entry);
    CHECK(proto::parse_json(w.snapshot.json_of(*entry))["last_seen"] == "");
    w.snapshot.seen(name, 1'800'000'000);
    w.snapshot.seen(name, 1'799'999'000);  // an older request finishing late does not move it back
    CHECK(proto::parse_json(w.snapshot.json_of(*entry))["last_seen"] == "2027-01-15T08:00:00Z");
    CHECK_THAT(full_listing({}, w.snapshot), Catch::Contains("\"last_seen\":\"2027-01-15T08:00:00Z\""));
    // A reason that spells the field out cannot be mistaken for it.
    REQUIRE(w.registry.record_phase(name, "failed", "\"last_seen\":\"\"", std::nullopt, w.now));
    entry = w.snapshot.find(name);
    const auto status = proto::parse_json(w.snapshot.json_of(*entry));
    CHECK(status["reason"] == "\"last_seen\":\"\"");
    CHECK(status["last_seen"] == "2027-01-15T08:00:00Z");
    REQUIRE(w.registry.remove(name));
    w.snapshot.seen("node-99", 1'800'000'000);
    CHECK_FALSE(w.snapshot.find("node-99"));
}

TEST_CASE("a phase another coordinator wrote reaches the snapshot as one modification, the rest untouched", "[registry]") {
    world w;
    w.enroll(0);
    w.enroll(1);
    const auto untouched = w.snapshot.find("node-2");
    const auto before = w.snapshot.version();
    {
        auto other = w.place.open();  // another coordinator on the same store
        REQUIRE(other->record_phase("node-1", "joining", "", std::nullopt, w.now + 5));
    }
    CHECK(w.snapshot.reload_if_changed());
    CHECK(w.snapshot.find("node-1")->phase == "joining");
    CHECK(w.snapshot.find("node-2") == untouched);  // not read and rendered again
    const auto changes = w.snapshot.changes_since(before);
    REQUIRE(changes);
    REQUIRE(changes->size() == 1);
    CHECK(changes->front().kind == change_kind::modified);
    CHECK_FALSE(w.snapshot.reload_if_changed());
}
