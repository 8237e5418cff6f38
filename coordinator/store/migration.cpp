#include "coordinator/store/migration.hpp"

#include "coordinator/store/registry_json.hpp"
#include "coordinator/store/sqlite.hpp"

#include <algorithm>
#include <cstdio>

namespace graft::coordinator {

using json = nlohmann::json;

namespace {

std::string journal_key(const std::string& prefix, const std::string& name, std::int64_t seq) {
    char digits[24];
    std::snprintf(digits, sizeof digits, "%016lld", static_cast<long long>(seq));
    return prefix + "journal/" + name + "/" + digits;
}

}  // namespace

sqlite_snapshot::sqlite_snapshot(const std::string& path)
    : db_(std::make_unique<sqlite_db>(path)), lock_(std::make_unique<sqlite_transaction>(*db_)) {
    auto& db = *db_;
    std::int64_t next = 1;
    {
        sqlite_statement s(db, "SELECT value FROM meta WHERE key = 'next_node_number'");
        if (s.step()) next = s.integer(0);
    }
    json tokens = json::array(), nodes = json::array(), journal = json::object();
    {
        sqlite_statement s(db, "SELECT id, secret_sha256, expires_at, uses_left, created_at, approval, allow, revoked_at, used "
                               "FROM enrollment_tokens ORDER BY id");
        while (s.step()) {
            stored_token t;
            t.id = s.text(0);
            t.secret_sha256 = s.text(1);
            t.expires_at = s.integer(2);
            t.uses_left = s.optional_integer(3);
            t.created_at = s.integer(4);
            t.approval = s.text(5) == "required" ? approval_mode::required : approval_mode::automatic;
            t.allow = json::parse(s.text(6)).get<std::vector<std::string>>();
            t.revoked_at = s.optional_integer(7);
            t.used = s.integer(8);
            tokens.push_back(json::parse(token_text(t)));
        }
    }
    sqlite_statement s(db, "SELECT name, machine_id, serial, model, arch, address, facts, phase, reason, certificate_serial, "
                           "enrolled_at, updated_at, join_command, join_issued_at, join_expires_at, join_credential, key_pin, "
                           "conflict, conflict_key_pin, replace_key_pin, pending_serial, readiness, steps, certificate_pem, "
                           "pending_certificate_pem, enrollment_token FROM nodes ORDER BY name");
    while (s.step()) {
        stored_node n;
        auto& r = n.node;
        r.name = s.text(0);
        r.machine_id = s.text(1);
        r.serial = s.text(2);
        r.model = s.text(3);
        r.arch = s.text(4);
        r.address = s.text(5);
        r.facts_json = s.text(6);
        r.phase = s.text(7);
        r.reason = s.text(8);
        r.certificate_serial = s.text(9);
        r.enrolled_at = s.integer(10);
        r.updated_at = s.integer(11);
        r.join_command = s.text(12);
        r.join_issued_at = s.optional_integer(13);
        r.join_expires_at = s.optional_integer(14);
        r.join_credential = s.text(15);
        r.key_pin = s.text(16);
        r.conflict = s.text(17);
        r.conflict_key_pin = s.text(18);
        r.replace_key_pin = s.text(19);
        r.pending_serial = s.text(20);
        r.readiness = s.text(21);
        r.steps_json = s.text(22);
        n.certificate_pem = s.text(23);
        n.pending_certificate_pem = s.text(24);
        n.enrollment_token = s.text(25);
        // The newest history_kept phases: what the etcd registry keeps.
        std::vector<json> history;
        {
            sqlite_statement h(db, "SELECT phase, reason, at FROM phase_history WHERE node = ? ORDER BY rowid");
            h.bind(1, r.name);
            while (h.step()) history.push_back(json::array({h.text(0), h.text(1), h.integer(2)}));
        }
        const std::size_t skip = history.size() > history_kept ? history.size() - history_kept : 0;
        n.history = json(std::vector<json>(history.begin() + static_cast<std::ptrdiff_t>(skip), history.end()));
        json excerpts = json::array();
        {
            sqlite_statement j(db, "SELECT unit, captured_at, excerpt FROM journal_excerpts WHERE node = ? ORDER BY rowid");
            j.bind(1, r.name);
            while (j.step()) excerpts.push_back({{"unit", j.text(0)}, {"captured_at", j.integer(1)}, {"excerpt", j.text(2)}});
        }
        n.journal_seq = static_cast<std::int64_t>(excerpts.size());
        if (!excerpts.empty()) journal[r.name] = std::move(excerpts);
        nodes.push_back(json::parse(node_text(n)));
    }
    contents_ = {{"next_node_number", next}, {"tokens", tokens}, {"nodes", nodes}, {"journal", journal}};
}

sqlite_snapshot::~sqlite_snapshot() = default;

void sqlite_snapshot::freeze(const std::string& why) {
    std::string quoted;
    for (char c : why) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    for (const char* table : {"meta", "enrollment_tokens", "nodes", "phase_history", "journal_excerpts"})
        for (const char* change : {"INSERT", "UPDATE", "DELETE"})
            db_->exec(std::string("CREATE TRIGGER graft_moved_") + table + "_" + change + " BEFORE " + change + " ON " +
                      table + " BEGIN SELECT RAISE(ABORT, '" + quoted + "'); END");
    lock_->commit();
}

json export_etcd_registry(etcd_client& etcd, const std::string& prefix) {
    std::int64_t revision = 0;
    auto everything = etcd.get_prefix(prefix, &revision);
    json tokens = json::array(), nodes = json::array(), journal = json::object();
    std::int64_t next = 1;
    for (const auto& kv : everything) {
        const std::string key = kv.key.substr(prefix.size());
        if (key.starts_with("tokens/")) {
            tokens.push_back(json::parse(token_text(token_from(kv.value))));
        } else if (key.starts_with("nodes/")) {
            nodes.push_back(json::parse(node_text(node_from(kv.value))));
        } else if (key.starts_with("journal/")) {
            const std::string name = key.substr(8, key.find('/', 8) - 8);
            journal[name].push_back(json::parse(kv.value));
        } else if (key == "meta/next-node-number") {
            next = std::stoll(kv.value);
        }
    }
    // Keys come in byte order, which is the order of ids and names.
    return {{"next_node_number", next}, {"tokens", tokens}, {"nodes", nodes}, {"journal", journal}};
}

void import_etcd_registry(etcd_client& etcd, const std::string& prefix, const json& contents) {
    std::vector<std::pair<std::string, std::string>> keys;
    keys.emplace_back(prefix + "meta/next-node-number", std::to_string(contents.at("next_node_number").get<std::int64_t>()));
    for (const auto& t : contents.at("tokens")) keys.emplace_back(prefix + "tokens/" + t.at("id").get<std::string>(), t.dump());
    for (const auto& n : contents.at("nodes")) {
        const std::string name = n.at("name");
        keys.emplace_back(prefix + "nodes/" + name, n.dump());
        keys.emplace_back(prefix + "machine-ids/" + n.at("machine_id").get<std::string>(), name);
    }
    for (const auto& [name, excerpts] : contents.at("journal").items()) {
        std::int64_t seq = 0;
        for (const auto& e : excerpts) keys.emplace_back(journal_key(prefix, name, ++seq), e.dump());
    }
    // In transactions of up to 64 keys (128 operations is etcd's default limit), each key created only if absent.
    for (std::size_t at = 0; at < keys.size(); at += 64) {
        std::vector<etcd_compare> absent;
        std::vector<etcd_op> puts;
        for (std::size_t i = at; i < std::min(keys.size(), at + 64); ++i) {
            absent.push_back({keys[i].first, 0});
            puts.push_back(etcd_op::put(keys[i].first, keys[i].second));
        }
        if (!etcd.txn(absent, puts).succeeded)
            throw std::runtime_error("etcd holds keys under " + prefix + " already (one of " + keys[at].first + " ...): "
                                     "migrate into a prefix no fleet uses");
    }
}

}  // namespace graft::coordinator
