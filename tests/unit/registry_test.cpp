#include "coordinator/enroll/tokens.hpp"
#include "coordinator/store/registry.hpp"
#include "proto/crypto.hpp"

#include <sqlite3.h>

#include "support/test_registry.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

using namespace graft;
using namespace graft::coordinator;

namespace {

proto::hardware_facts facts(std::string machine_id) {
    proto::hardware_facts f;
    f.machine_id = std::move(machine_id);
    f.model = "Raspberry Pi 5";
    f.arch = "aarch64";
    return f;
}

enrollment request(const new_token& token, std::string machine_id, std::int64_t now) {
    enrollment e;
    auto dot = token.text.find('.');
    e.token_id = token.text.substr(0, dot);
    e.token_secret = token.text.substr(dot + 1);
    e.facts = facts(std::move(machine_id));
    e.address = "127.0.0.1";
    e.now = now;
    e.issue_certificate = [](const std::string& name) { return std::pair{"PEM for " + name, "serial-" + name}; };
    return e;
}

const std::string machine_a(32, 'a'), machine_b(32, 'b'), machine_c(32, 'c');

}  // namespace

TEST_CASE("nodes are named in order and a returning machine keeps its name", "[registry]") {
    const test::registry_place at;
    auto reg = at.open();
    auto now = proto::clock::now();
    auto token = make_enrollment_token(now, std::chrono::hours(1), std::nullopt);
    reg->add_token(token.stored);
    auto t = proto::to_unix(now);
    CHECK(reg->enroll(request(token, machine_a, t)).node.name == "node-1");
    CHECK(reg->enroll(request(token, machine_b, t)).node.name == "node-2");
    auto again = reg->enroll(request(token, machine_a, t + 5));
    CHECK(again.node.name == "node-1");
    CHECK(again.returning);
    CHECK(again.certificate_pem == "PEM for node-1");
    CHECK(reg->list().size() == 2);
}

TEST_CASE("a refused token writes nothing", "[registry]") {
    const test::registry_place at;
    auto reg = at.open();
    auto now = proto::clock::now();
    auto t = proto::to_unix(now);
    auto good = make_enrollment_token(now, std::chrono::hours(1), 1);
    auto expired = make_enrollment_token(now - std::chrono::hours(2), std::chrono::hours(1), std::nullopt);
    reg->add_token(good.stored);
    reg->add_token(expired.stored);

    auto wrong = request(good, machine_a, t);
    wrong.token_secret[0] = wrong.token_secret[0] == 'a' ? 'b' : 'a';
    bool signed_anything = false;
    wrong.issue_certificate = [&](const std::string&) {
        signed_anything = true;
        return std::pair<std::string, std::string>{};
    };
    CHECK(reg->enroll(wrong).verdict == token_verdict::wrong_secret);
    auto unknown = request(good, machine_a, t);
    unknown.token_id = "zzzzzzzz";
    CHECK(reg->enroll(unknown).verdict == token_verdict::unknown);
    CHECK(reg->enroll(request(expired, machine_a, t)).verdict == token_verdict::expired);
    CHECK_FALSE(signed_anything);
    CHECK(reg->list().empty());

    // The single use is still there after all those refusals, and is gone after one enrollment.
    CHECK(reg->enroll(request(good, machine_a, t)).verdict == token_verdict::accepted);
    CHECK(reg->enroll(request(good, machine_b, t)).verdict == token_verdict::used_up);
    CHECK(reg->list().size() == 1);
}

TEST_CASE("the registry keeps tokens hashed, never the secret", "[registry]") {
    const test::registry_place at;
    auto token = make_enrollment_token(proto::clock::now(), std::chrono::hours(1), std::nullopt);
    at.open()->add_token(token.stored);
    const std::string secret = token.text.substr(token.text.find('.') + 1);
    // Everything the store holds, read with its own tools: sqlite3's dump and the file; every key under the prefix.
    std::string stored;
    if (test::registry_on_etcd()) {
        auto& etcd = test::shared_etcd();
        etcd_client client({etcd.endpoints(), etcd.ca_file(), etcd.cert_file(), etcd.key_file()});
        for (const auto& kv : client.get_prefix(at.prefix)) stored += kv.key + "=" + kv.value + "\n";
        CHECK_THAT(stored, Catch::Contains(token.stored.id) && Catch::Contains(token.stored.secret_sha256));
    } else {
        auto dump = test::run({"sqlite3", at.dir / "registry.db", ".dump"});
        if (dump.exit_code == 0) stored += dump.output;
        stored += test::read(at.dir / "registry.db");
    }
    CHECK(stored.find(secret) == std::string::npos);
    CHECK(token.stored.secret_sha256 == proto::sha256_hex(secret));
}

TEST_CASE("enrollments, phases and join records survive reopening the registry", "[registry]") {
    const test::registry_place at;
    auto now = proto::clock::now();
    auto t = proto::to_unix(now);
    {
        auto reg = at.open();
        auto token = make_enrollment_token(now, std::chrono::hours(1), std::nullopt);
        reg->add_token(token.stored);
        reg->enroll(request(token, machine_c, t));
        CHECK(reg->record_phase("node-1", "joining", "", std::string("10.0.0.5"), t + 1));
        CHECK(reg->record_join("node-1", "kubeadm join ...", t + 2, t + 902));
        CHECK_FALSE(reg->record_phase("node-9", "joining", "", std::nullopt, t));
    }
    auto reg = at.open();
    auto node = reg->find("node-1");
    REQUIRE(node);
    CHECK(node->phase == "joining");
    CHECK(node->address == "10.0.0.5");
    CHECK(node->join_expires_at == t + 902);
    auto history = reg->history("node-1");
    REQUIRE(history.size() == 2);
    CHECK(std::get<0>(history[0]) == "enrolled");
    CHECK(std::get<0>(history[1]) == "joining");
}

TEST_CASE("a name someone already holds is skipped", "[registry]") {
    const test::registry_place at;
    auto reg = at.open();
    auto now = proto::clock::now();
    auto token = make_enrollment_token(now, std::chrono::hours(1), std::nullopt);
    reg->add_token(token.stored);
    auto first = request(token, machine_a, proto::to_unix(now));
    first.name_prefix = "pi";
    CHECK(reg->enroll(first).node.name == "pi-1");
    auto second = request(token, machine_b, proto::to_unix(now));
    second.name_prefix = "pi";
    CHECK(reg->enroll(second).node.name == "pi-2");
}

TEST_CASE("a registry written by the first release gains the join credential column and keeps its nodes") {
    test::temp_dir dir;
    // The schema as version 1 made it, with one node in it.
    {
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open((dir / "registry.db").c_str(), &db) == SQLITE_OK);
        const char* v1 = R"sql(
            CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT INTO meta VALUES ('schema_version', 1), ('next_node_number', 2);
            CREATE TABLE enrollment_tokens (id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, expires_at INTEGER NOT NULL, uses_left INTEGER);
            CREATE TABLE nodes (name TEXT PRIMARY KEY, machine_id TEXT NOT NULL UNIQUE, serial TEXT NOT NULL, model TEXT NOT NULL,
              arch TEXT NOT NULL, address TEXT NOT NULL, facts TEXT NOT NULL, phase TEXT NOT NULL, reason TEXT NOT NULL,
              certificate_serial TEXT NOT NULL, enrolled_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
              join_command TEXT NOT NULL DEFAULT '', join_issued_at INTEGER, join_expires_at INTEGER);
            CREATE TABLE phase_history (node TEXT NOT NULL REFERENCES nodes(name), phase TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL);
            INSERT INTO nodes VALUES ('node-1', 'aaaa', '', 'Pi', 'aarch64', '10.0.0.5', '{}', 'joined', '', '01', 1, 2, '', NULL, NULL);
            INSERT INTO enrollment_tokens VALUES ('abcdefgh', 'hash', 4102444800, 2);
        )sql";
        REQUIRE(sqlite3_exec(db, v1, nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(db);
    }
    auto reg = open_sqlite_registry(dir / "registry.db");
    auto node = reg->find("node-1");
    REQUIRE(node);
    CHECK(node->phase == "joined");
    CHECK(node->join_credential.empty());
    CHECK(reg->record_join("node-1", "kubeadm join ...", 3, 903, "abcdef"));
    CHECK(reg->find("node-1")->join_credential == "abcdef");
    // Its token keeps working, with the policy tokens had then: any machine, no approval.
    const auto tokens = reg->tokens();
    REQUIRE(tokens.size() == 1);
    CHECK(tokens[0].uses_left == 2);
    CHECK(tokens[0].approval == approval_mode::automatic);
    CHECK(tokens[0].allow.empty());
    CHECK_FALSE(tokens[0].revoked_at);
    CHECK(reg->find("node-1")->conflict.empty());
    CHECK_FALSE(reg->clear_join_credential("node-1", "other1"));
    CHECK(reg->clear_join_credential("node-1", "abcdef"));
    reg.reset();
    // Opening it again migrates nothing twice.
    CHECK(open_sqlite_registry(dir / "registry.db")->find("node-1"));
}

TEST_CASE("purging takes out tokens expired or revoked before the cutoff, and keeps the rest", "[registry]") {
    const test::registry_place at;
    auto reg = at.open();
    const auto now = proto::clock::now();
    const auto t = proto::to_unix(now);
    auto live = make_enrollment_token(now, std::chrono::hours(1), std::nullopt);
    auto expired_long_ago = make_enrollment_token(now - std::chrono::hours(3), std::chrono::hours(1), std::nullopt);
    auto expired_just_now = make_enrollment_token(now - std::chrono::minutes(70), std::chrono::hours(1), std::nullopt);
    auto revoked = make_enrollment_token(now, std::chrono::hours(1), std::nullopt);
    for (const auto* token : {&live, &expired_long_ago, &expired_just_now, &revoked}) reg->add_token(token->stored);
    REQUIRE(reg->revoke_token(revoked.stored.id, t - 7200));
    CHECK_FALSE(reg->revoke_token("zzzzzzzz", t));

    CHECK(reg->purge_tokens(t - 3600) == 2);
    std::set<std::string> left;
    for (const auto& token : reg->tokens()) left.insert(token.id);
    CHECK(left == std::set<std::string>{live.stored.id, expired_just_now.stored.id});
}

TEST_CASE("concurrent enrollments with a single-use token admit exactly one machine", "[registry]") {
    const test::registry_place at;
    auto now = proto::clock::now();
    auto t = proto::to_unix(now);
    auto once = make_enrollment_token(now, std::chrono::hours(1), 1);
    at.open()->add_token(once.stored);
    // Two registries on the same store, as two coordinators have, each asked from several threads at once.
    auto first = at.open(), second = at.open();
    std::atomic<int> accepted = 0, used_up = 0;
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; ++i)
        threads.emplace_back([&, i] {
            auto verdict = (i % 2 ? first : second)->enroll(request(once, test::random_machine_id(), t)).verdict;
            if (verdict == token_verdict::accepted) ++accepted;
            if (verdict == token_verdict::used_up) ++used_up;
        });
    for (auto& thread : threads) thread.join();
    CHECK(accepted == 1);
    CHECK(used_up == 15);
    CHECK(first->list().size() == 1);
    CHECK(second->tokens().front().used == 1);
}
