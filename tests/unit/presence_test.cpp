// What coordinators sharing an etcd registry tell each other beside it (coordinator/store/etcd_presence.hpp):
// operators' journal requests and nodes' last-seen times, against a real etcd (Debian's etcd-server, one member for
// the test process). The tests tagged [registry] hold for the requests one coordinator keeps in memory as well.
#include "coordinator/enroll/tokens.hpp"
#include "coordinator/status/journal_requests.hpp"
#include "coordinator/store/etcd_presence.hpp"
#include "proto/time.hpp"

#include "support/support.hpp"
#include "support/test_registry.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace graft;
using namespace graft::coordinator;

namespace {

// A place on etcd whichever store the suite runs on: these tests are about etcd.
struct etcd_place {
    std::string prefix = test::unique_etcd_prefix();
    etcd_options options = test::registry_place::etcd_options();
    std::unique_ptr<journal_requests> requests() const { return open_etcd_journal_requests(options, prefix); }
};

// node-1 enrolled in `registry`.
void enroll_one(node_registry& registry) {
    const auto now = proto::clock::now();
    auto token = make_enrollment_token(now, std::chrono::hours(1), std::nullopt);
    registry.add_token(token.stored);
    enrollment e;
    const auto dot = token.text.find('.');
    e.token_id = token.text.substr(0, dot);
    e.token_secret = token.text.substr(dot + 1);
    e.facts.machine_id = std::string(32, 'a');
    e.facts.arch = "aarch64";
    e.address = "127.0.0.1";
    e.now = proto::to_unix(now);
    e.issue_certificate = [](const std::string& name) { return std::pair{"PEM for " + name, "serial-" + name}; };
    REQUIRE(registry.enroll(e).node.name == "node-1");
}

}  // namespace

TEST_CASE("a node has a bounded number of journal requests waiting, and one answered makes room", "[registry]") {
    const test::registry_place at;
    auto asks = at.open_journal_requests();
    const std::int64_t now = 1'800'000'000;
    std::vector<journal_requests::request> made;
    for (std::size_t i = 0; i < journal_requests::max_pending; ++i) {
        auto r = asks->ask("node-1", "kubelet.service", 50, "alice", now);
        REQUIRE(r);
        CHECK(r->state == journal_requests::state::pending);
        made.push_back(*r);
    }
    CHECK_FALSE(asks->ask("node-1", "", 50, "alice", now));
    CHECK(asks->ask("node-2", "", 50, "alice", now));  // another node's are its own
    // Taken by a heartbeat, they still wait for their answer.
    CHECK(asks->take("node-1", now + 1).size() == journal_requests::max_pending);
    CHECK_FALSE(asks->ask("node-1", "", 50, "alice", now + 1));
    REQUIRE(asks->answered("node-1", made.front().id));
    CHECK(asks->ask("node-1", "", 50, "alice", now + 2));
    // An id is answered only by its own node.
    CHECK_FALSE(asks->answered("node-2", made.back().id));
    CHECK_FALSE(asks->answered("node-1", "0123456789abcdef"));
    auto found = asks->find("node-1", made.front().id);
    REQUIRE(found);
    CHECK(found->state == journal_requests::state::answered);
    CHECK(found->unit == "kubelet.service");
    CHECK(found->lines == 50);
    CHECK(found->asked_by == "alice");
    CHECK(found->asked_at == now);
}

TEST_CASE("a journal request asked of one coordinator is handed to the node by another, once, and answered there") {
    const etcd_place at;
    auto asked_here = at.requests(), heartbeat_there = at.requests();
    const std::int64_t now = proto::to_unix(proto::clock::now());
    auto r = asked_here->ask("node-1", "kubelet.service", 20, "alice", now);
    REQUIRE(r);
    auto taken = heartbeat_there->take("node-1", now + 1);
    REQUIRE(taken.size() == 1);
    CHECK(taken[0].id == r->id);
    CHECK(taken[0].unit == "kubelet.service");
    CHECK(taken[0].lines == 20);
    CHECK(asked_here->take("node-1", now + 2).empty());
    CHECK(asked_here->find("node-1", r->id)->state == journal_requests::state::taken);
    REQUIRE(heartbeat_there->answered("node-1", r->id));
    CHECK(asked_here->find("node-1", r->id)->state == journal_requests::state::answered);

    // Kept under a lease: etcd forgets a request no longer worth anything without anyone deleting it.
    etcd_client etcd(at.options);
    auto kept = etcd.get(at.prefix + "journal-requests/node-1/" + r->id);
    REQUIRE(kept);
    CHECK(kept->lease != 0);
}

TEST_CASE("of heartbeats through several coordinators at once, exactly one takes each journal request") {
    const etcd_place at;
    auto asker = at.requests();
    const std::int64_t now = proto::to_unix(proto::clock::now());
    for (int i = 0; i < 4; ++i) REQUIRE(asker->ask("node-1", "", 10, "alice", now));
    std::vector<std::unique_ptr<journal_requests>> coordinators;
    for (int i = 0; i < 4; ++i) coordinators.push_back(at.requests());
    std::atomic<int> handed{0};
    std::vector<std::thread> beats;
    for (auto& c : coordinators)
        beats.emplace_back([&, c = c.get()] { handed += static_cast<int>(c->take("node-1", now).size()); });
    for (auto& t : beats) t.join();
    CHECK(handed == 4);
}

TEST_CASE("last-seen times pass between coordinators, each exchange bringing what was written since the last") {
    const etcd_place at;
    shared_last_seen a(at.options, at.prefix), b(at.options, at.prefix);
    CHECK(b.exchange({}).empty());
    a.exchange({{"node-1", 1'800'000'000}, {"node-2", 1'800'000'001}});
    auto heard = b.exchange({});
    std::sort(heard.begin(), heard.end());
    CHECK(heard == shared_last_seen::heard{{"node-1", 1'800'000'000}, {"node-2", 1'800'000'001}});
    CHECK(b.exchange({}).empty());
    a.exchange({{"node-2", 1'800'000'031}});
    CHECK(b.exchange({}) == shared_last_seen::heard{{"node-2", 1'800'000'031}});
    // A coordinator started later learns every time there is.
    shared_last_seen c(at.options, at.prefix);
    CHECK(c.exchange({}).size() == 2);
    // More nodes than one etcd transaction takes.
    shared_last_seen::heard many;
    for (int i = 0; i < 300; ++i) many.emplace_back("node-" + std::to_string(1000 + i), 1'800'000'100 + i);
    a.exchange(many);
    CHECK(b.exchange({}).size() == 300);
}

TEST_CASE("a removed node's journal requests and last-seen time go with it") {
    const etcd_place at;
    auto registry = open_etcd_registry(at.options, at.prefix);
    enroll_one(*registry);
    auto asks = at.requests();
    REQUIRE(asks->ask("node-1", "", 10, "alice", proto::to_unix(proto::clock::now())));
    shared_last_seen seen(at.options, at.prefix);
    seen.exchange({{"node-1", proto::to_unix(proto::clock::now())}});
    etcd_client etcd(at.options);
    REQUIRE(etcd.count_prefix(at.prefix + "journal-requests/node-1/") == 1);
    REQUIRE(etcd.get(at.prefix + "seen/node-1"));

    REQUIRE(registry->remove("node-1"));
    CHECK(etcd.count_prefix(at.prefix + "journal-requests/node-1/") == 0);
    CHECK_FALSE(etcd.get(at.prefix + "seen/node-1"));
}
