#include "coordinator/store/enrollment_rules.hpp"
#include "coordinator/store/migration.hpp"
#include "coordinator/store/registry.hpp"
#include "coordinator/store/registry_json.hpp"
#include "coordinator/store/sqlite.hpp"

#include "proto/crypto.hpp"
#include "proto/pki.hpp"

#include <algorithm>
#include <mutex>

namespace graft::coordinator {
namespace {

constexpr std::string_view schema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 1), ('next_node_number', 1);
CREATE TABLE IF NOT EXISTS enrollment_tokens (
  id TEXT PRIMARY KEY,
  secret_sha256 TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  uses_left INTEGER
);
CREATE TABLE IF NOT EXISTS nodes (
  name TEXT PRIMARY KEY,
  machine_id TEXT NOT NULL UNIQUE,
  serial TEXT NOT NULL,
  model TEXT NOT NULL,
  arch TEXT NOT NULL,
  address TEXT NOT NULL,
  facts TEXT NOT NULL,
  phase TEXT NOT NULL,
  reason TEXT NOT NULL,
  certificate_serial TEXT NOT NULL,
  enrolled_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  join_command TEXT NOT NULL DEFAULT '',
  join_issued_at INTEGER,
  join_expires_at INTEGER
);
CREATE TABLE IF NOT EXISTS phase_history (
  node TEXT NOT NULL REFERENCES nodes(name),
  phase TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS phase_history_node ON phase_history(node);
CREATE TABLE IF NOT EXISTS journal_excerpts (
  node TEXT NOT NULL REFERENCES nodes(name),
  unit TEXT NOT NULL,
  captured_at INTEGER NOT NULL,
  excerpt TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_excerpts_node ON journal_excerpts(node);
)sql";

constexpr std::string_view node_columns =
    "name, machine_id, serial, model, arch, address, facts, phase, reason, certificate_serial, enrolled_at, "
    "updated_at, join_command, join_issued_at, join_expires_at, join_credential, key_pin, conflict, conflict_key_pin, "
    "replace_key_pin, pending_serial, readiness, steps";
constexpr int certificate_pem_column = 23;  // after node_columns, where a query adds it

node_record read_node(const sqlite_statement& s) {
    node_record n;
    n.name = s.text(0);
    n.machine_id = s.text(1);
    n.serial = s.text(2);
    n.model = s.text(3);
    n.arch = s.text(4);
    n.address = s.text(5);
    n.facts_json = s.text(6);
    n.phase = s.text(7);
    n.reason = s.text(8);
    n.certificate_serial = s.text(9);
    n.enrolled_at = s.integer(10);
    n.updated_at = s.integer(11);
    n.join_command = s.text(12);
    n.join_issued_at = s.optional_integer(13);
    n.join_expires_at = s.optional_integer(14);
    n.join_credential = s.text(15);
    n.key_pin = s.text(16);
    n.conflict = s.text(17);
    n.conflict_key_pin = s.text(18);
    n.replace_key_pin = s.text(19);
    n.pending_serial = s.text(20);
    n.readiness = s.text(21);
    n.steps_json = s.text(22);
    return n;
}

constexpr std::string_view token_columns = "id, secret_sha256, expires_at, uses_left, created_at, approval, allow, revoked_at, used";

stored_token read_token(const sqlite_statement& s) {
    stored_token t;
    t.id = s.text(0);
    t.secret_sha256 = s.text(1);
    t.expires_at = s.integer(2);
    t.uses_left = s.optional_integer(3);
    t.created_at = s.integer(4);
    t.approval = s.text(5) == "required" ? approval_mode::required : approval_mode::automatic;
    for (const auto& entry : proto::json::parse(s.text(6))) t.allow.push_back(entry.get<std::string>());
    t.revoked_at = s.optional_integer(7);
    t.used = s.integer(8);
    return t;
}

class sqlite_registry final : public node_registry {
public:
    ~sqlite_registry() override { sqlite3_finalize(data_version_); }

    explicit sqlite_registry(const std::string& path) : db_(path) {
        // WAL lets status reads run beside writes; FULL makes every commit durable before enroll() returns.
        db_.exec("PRAGMA journal_mode=WAL");
        db_.exec("PRAGMA synchronous=FULL");
        db_.exec("PRAGMA foreign_keys=ON");
        db_.exec(schema);
        migrate();
    }

    void add_token(const stored_token& token) override {
        std::lock_guard lock(mutex_);
        sqlite_statement(db_, "INSERT INTO enrollment_tokens (id, secret_sha256, expires_at, uses_left, created_at, approval, "
                              "allow) VALUES (?,?,?,?,?,?,?)")
            .bind(1, token.id).bind(2, token.secret_sha256).bind(3, token.expires_at).bind(4, token.uses_left)
            .bind(5, token.created_at).bind(6, token.approval == approval_mode::required ? "required" : "auto")
            .bind(7, proto::json(token.allow).dump()).run();
    }

    std::vector<stored_token> tokens() override {
        std::lock_guard lock(mutex_);
        sqlite_statement s(db_, "SELECT " + std::string(token_columns) + " FROM enrollment_tokens ORDER BY created_at, id");
        std::vector<stored_token> out;
        while (s.step()) out.push_back(read_token(s));
        return out;
    }

    bool revoke_token(const std::string& id, std::int64_t now) override {
        std::lock_guard lock(mutex_);
        sqlite_statement(db_, "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
            .bind(1, now).bind(2, id).run();
        return sqlite3_changes(db_.handle()) > 0;
    }

    std::size_t purge_tokens(std::int64_t before) override {
        std::lock_guard lock(mutex_);
        sqlite_statement(db_, "DELETE FROM enrollment_tokens WHERE expires_at < ?1 OR revoked_at < ?1").bind(1, before).run();
        return static_cast<std::size_t>(sqlite3_changes(db_.handle()));
    }

    enrollment_result enroll(const enrollment& req) override {
        std::lock_guard lock(mutex_);
        sqlite_transaction tx(db_);
        enrollment_result result;
        stored_token token;
        {
            sqlite_statement s(db_, "SELECT " + std::string(token_columns) + " FROM enrollment_tokens WHERE id = ?");
            s.bind(1, req.token_id);
            if (!s.step()) return result;  // unknown
            token = read_token(s);
        }
        if (!proto::constant_time_equal(token.secret_sha256, proto::sha256_hex(req.token_secret))) {
            result.verdict = token_verdict::wrong_secret;
            return result;
        }
        if (auto again = repeated(req)) return *again;
        result.verdict = token_admits(token, req);
        if (result.verdict != token_verdict::accepted) return result;

        std::optional<node_record> existing;
        {
            sqlite_statement s(db_, "SELECT " + std::string(node_columns) + " FROM nodes WHERE machine_id = ?");
            s.bind(1, req.facts.machine_id);
            if (s.step()) existing = read_node(s);
        }
        std::string name;
        if (existing) {
            name = existing->name;
            result.returning = true;
            switch (returning_machine(req, *existing)) {
            case returning_kind::denied:
                result.verdict = token_verdict::denied;
                result.node = *existing;
                return result;
            case returning_kind::conflict:
                record_conflict(req, *existing, result);
                tx.commit();
                return result;
            case returning_kind::new_key: result.replaced = true; break;
            case returning_kind::same_key: break;
            }
        } else {
            // Skip numbers whose name someone already holds, so a renamed or imported node never collides, and names
            // of Nodes the cluster already has, which kubeadm would refuse to join over.
            for (;;) {
                sqlite_statement next(db_, "UPDATE meta SET value = value + 1 WHERE key = 'next_node_number' RETURNING value - 1");
                next.step();
                std::string candidate = req.name_prefix + "-" + std::to_string(next.integer(0));
                sqlite_statement taken(db_, "SELECT 1 FROM nodes WHERE name = ?");
                taken.bind(1, candidate);
                if (!taken.step() && !(req.name_taken && req.name_taken(candidate))) {
                    name = candidate;
                    break;
                }
            }
        }
        // Approval is asked of machines the registry does not know yet; a known node keeps the operator's decision.
        const bool needs_approval = token.approval == approval_mode::required &&
                                    (!existing || existing->phase == "pending_approval");
        const std::string phase = needs_approval ? "pending_approval" : "enrolled";

        auto [certificate_pem, certificate_serial] = req.issue_certificate(name);
        const std::string facts = req.facts.to_json().dump();
        sqlite_statement(db_, R"sql(
            INSERT INTO nodes (name, machine_id, serial, model, arch, address, facts, phase, reason, certificate_serial,
                               enrolled_at, updated_at, key_pin, certificate_pem, enrollment_token)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?13, '', ?8, ?9, ?9, ?10, ?11, ?12)
            ON CONFLICT(name) DO UPDATE SET serial = ?3, model = ?4, arch = ?5, address = ?6, facts = ?7,
              phase = ?13, reason = '', certificate_serial = ?8, enrolled_at = ?9, updated_at = ?9,
              join_command = '', join_issued_at = NULL, join_expires_at = NULL, key_pin = ?10, certificate_pem = ?11,
              enrollment_token = ?12, conflict = '', conflict_key_pin = '', replace_key_pin = '',
              pending_serial = '', pending_certificate_pem = '', readiness = '')sql")
            .bind(1, name).bind(2, req.facts.machine_id).bind(3, req.facts.serial).bind(4, req.facts.model)
            .bind(5, req.facts.arch).bind(6, req.address).bind(7, facts).bind(8, certificate_serial).bind(9, req.now)
            .bind(10, req.key_pin).bind(11, certificate_pem).bind(12, req.token_id).bind(13, phase)
            .run();
        sqlite_statement(db_, "INSERT INTO phase_history (node, phase, reason, at) VALUES (?, ?, '', ?)")
            .bind(1, name).bind(2, phase).bind(3, req.now).run();
        sqlite_statement(db_, "UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE id = ? AND uses_left IS NOT NULL")
            .bind(1, req.token_id).run();
        sqlite_statement(db_, "UPDATE enrollment_tokens SET used = used + 1 WHERE id = ?").bind(1, req.token_id).run();
        tx.commit();

        result.verdict = needs_approval ? token_verdict::pending_approval : token_verdict::accepted;
        result.certificate_pem = std::move(certificate_pem);
        sqlite_statement s(db_, "SELECT " + std::string(node_columns) + " FROM nodes WHERE name = ?");
        s.bind(1, name);
        s.step();
        result.node = read_node(s);
        return result;
    }

    std::optional<node_record> find(const std::string& name) override {
        std::lock_guard lock(mutex_);
        sqlite_statement s(db_, "SELECT " + std::string(node_columns) + " FROM nodes WHERE name = ?");
        s.bind(1, name);
        if (!s.step()) return std::nullopt;
        return read_node(s);
    }

    std::vector<node_record> list() override {
        std::lock_guard lock(mutex_);
        sqlite_statement s(db_, "SELECT " + std::string(node_columns) + " FROM nodes ORDER BY enrolled_at, name");
        std::vector<node_record> out;
        while (s.step()) out.push_back(read_node(s));
        return out;
    }

    bool record_phase(const std::string& name, std::string_view phase, std::string_view reason,
                      const std::optional<std::string>& address, std::int64_t now,
                      const std::optional<std::string>& readiness) override {
        std::lock_guard lock(mutex_);
        sqlite_transaction tx(db_);
        std::string previous_phase, previous_reason;
        {
            sqlite_statement s(db_, "SELECT phase, reason FROM nodes WHERE name = ?");
            s.bind(1, name);
            if (!s.step()) return false;
            previous_phase = s.text(0);
            previous_reason = s.text(1);
        }
        sqlite_statement(db_, "UPDATE nodes SET phase = ?, reason = ?, address = COALESCE(?, address), updated_at = ?, "
                              "readiness = COALESCE(?, readiness) WHERE name = ?")
            .bind(1, phase).bind(2, reason).bind_text_or_null(3, address ? std::optional<std::string_view>(*address) : std::nullopt)
            .bind(4, now).bind_text_or_null(5, readiness ? std::optional<std::string_view>(*readiness) : std::nullopt)
            .bind(6, name).run();
        if (previous_phase != phase || previous_reason != reason)
            sqlite_statement(db_, "INSERT INTO phase_history (node, phase, reason, at) VALUES (?, ?, ?, ?)")
                .bind(1, name).bind(2, phase).bind(3, reason).bind(4, now).run();
        tx.commit();
        return true;
    }

    bool record_join(const std::string& name, const std::string& display_command, std::int64_t issued_at,
                     std::optional<std::int64_t> expires_at, const std::string& credential) override {
        std::lock_guard lock(mutex_);
        sqlite_statement s(db_, "UPDATE nodes SET join_command = ?, join_issued_at = ?, join_expires_at = ?, updated_at = ?, "
                                "join_credential = ? WHERE name = ?");
        s.bind(1, display_command).bind(2, issued_at).bind(3, expires_at).bind(4, issued_at).bind(5, credential)
            .bind(6, name).run();
        return sqlite3_changes(db_.handle()) > 0;
    }

    std::string renew(const std::string& name, std::int64_t now,
                      const std::function<std::pair<std::string, std::string>()>& issue) override {
        std::lock_guard lock(mutex_);
        sqlite_transaction tx(db_);
        {
            sqlite_statement s(db_, "SELECT pending_certificate_pem FROM nodes WHERE name = ?");
            s.bind(1, name);
            if (!s.step()) return {};
            if (std::string pending = s.text(0); !pending.empty() && certificate_still_valid(pending, now)) return pending;
        }
        auto [pem, serial] = issue();
        sqlite_statement(db_, "UPDATE nodes SET pending_serial = ?, pending_certificate_pem = ?, updated_at = ? WHERE name = ?")
            .bind(1, serial).bind(2, pem).bind(3, now).bind(4, name).run();
        tx.commit();
        return pem;
    }

    bool promote_certificate(const std::string& name, const std::string& serial) override {
        std::lock_guard lock(mutex_);
        sqlite_statement(db_, "UPDATE nodes SET certificate_serial = pending_serial, certificate_pem = pending_certificate_pem, "
                              "pending_serial = '', pending_certificate_pem = '' WHERE name = ? AND pending_serial = ? "
                              "AND pending_serial != ''")
            .bind(1, name).bind(2, serial).run();
        return sqlite3_changes(db_.handle()) > 0;
    }

    bool approve(const std::string& name, std::int64_t now) override {
        return decide(name, "enrolled", "approved by an operator", now);
    }

    bool deny(const std::string& name, std::int64_t now) override {
        return decide(name, "denied", "denied by an operator", now);
    }

    bool allow_replacement(const std::string& name) override {
        std::lock_guard lock(mutex_);
        sqlite_statement(db_, "UPDATE nodes SET replace_key_pin = CASE conflict_key_pin WHEN '' THEN '*' ELSE "
                              "conflict_key_pin END WHERE name = ?")
            .bind(1, name).run();
        return sqlite3_changes(db_.handle()) > 0;
    }

    bool record_steps(const std::string& name, const std::string& steps_json) override {
        std::lock_guard lock(mutex_);
        sqlite_statement(db_, "UPDATE nodes SET steps = ? WHERE name = ?").bind(1, steps_json).bind(2, name).run();
        return sqlite3_changes(db_.handle()) > 0;
    }

    bool add_journal(const std::string& name, const std::vector<stored_excerpt>& excerpts, std::size_t keep) override {
        std::lock_guard lock(mutex_);
        sqlite_transaction tx(db_);
        {
            sqlite_statement s(db_, "SELECT 1 FROM nodes WHERE name = ?");
            s.bind(1, name);
            if (!s.step()) return false;
        }
        for (const auto& e : excerpts)
            sqlite_statement(db_, "INSERT INTO journal_excerpts (node, unit, captured_at, excerpt) VALUES (?, ?, ?, ?)")
                .bind(1, name).bind(2, e.unit).bind(3, e.captured_at).bind(4, e.excerpt_json).run();
        // The newest `keep` stay: a node failing over and over does not grow the registry.
        sqlite_statement(db_, "DELETE FROM journal_excerpts WHERE node = ?1 AND rowid NOT IN "
                              "(SELECT rowid FROM journal_excerpts WHERE node = ?1 ORDER BY rowid DESC LIMIT ?2)")
            .bind(1, name).bind(2, static_cast<std::int64_t>(keep)).run();
        tx.commit();
        return true;
    }

    std::vector<stored_excerpt> journal(const std::string& name) override {
        std::lock_guard lock(mutex_);
        sqlite_statement s(db_, "SELECT unit, captured_at, excerpt FROM journal_excerpts WHERE node = ? ORDER BY rowid");
        s.bind(1, name);
        std::vector<stored_excerpt> out;
        while (s.step()) out.push_back({s.text(0), s.integer(1), s.text(2)});
        return out;
    }

    bool remove(const std::string& name) override {
        std::lock_guard lock(mutex_);
        sqlite_transaction tx(db_);
        sqlite_statement(db_, "DELETE FROM journal_excerpts WHERE node = ?").bind(1, name).run();
        sqlite_statement(db_, "DELETE FROM phase_history WHERE node = ?").bind(1, name).run();
        sqlite_statement(db_, "DELETE FROM nodes WHERE name = ?").bind(1, name).run();
        const bool removed = sqlite3_changes(db_.handle()) > 0;
        tx.commit();
        return removed;
    }

    std::vector<std::tuple<std::string, std::string, std::int64_t>> history(const std::string& name) override {
        std::lock_guard lock(mutex_);
        sqlite_statement s(db_, "SELECT phase, reason, at FROM phase_history WHERE node = ? ORDER BY rowid");
        s.bind(1, name);
        std::vector<std::tuple<std::string, std::string, std::int64_t>> out;
        while (s.step()) out.emplace_back(s.text(0), s.text(1), s.integer(2));
        return out;
    }

    std::optional<std::int64_t> data_version(bool wait) override {
        std::unique_lock lock(mutex_, std::defer_lock);
        if (wait) lock.lock();
        else if (!lock.try_lock()) return std::nullopt;
        // Asked before every answer from the snapshot: prepared once.
        if (!data_version_)
            sqlite3_prepare_v3(db_.handle(), "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT, &data_version_, nullptr);
        if (!data_version_) return std::nullopt;
        std::optional<std::int64_t> out;
        if (sqlite3_step(data_version_) == SQLITE_ROW) out = sqlite3_column_int64(data_version_, 0);
        sqlite3_reset(data_version_);
        return out;
    }

    bool clear_join_credential(const std::string& name, const std::string& credential) override {
        std::lock_guard lock(mutex_);
        sqlite_statement s(db_, "UPDATE nodes SET join_credential = '' WHERE name = ? AND join_credential = ?");
        s.bind(1, name).bind(2, credential).run();
        return sqlite3_changes(db_.handle()) > 0;
    }

private:
    // Moves a node waiting for approval to `phase`, with the history row.
    bool decide(const std::string& name, std::string_view phase, std::string_view reason, std::int64_t now) {
        std::lock_guard lock(mutex_);
        sqlite_transaction tx(db_);
        sqlite_statement(db_, "UPDATE nodes SET phase = ?, reason = ?, updated_at = ? WHERE name = ? AND phase = 'pending_approval'")
            .bind(1, phase).bind(2, reason).bind(3, now).bind(4, name).run();
        if (sqlite3_changes(db_.handle()) == 0) return false;
        sqlite_statement(db_, "INSERT INTO phase_history (node, phase, reason, at) VALUES (?, ?, ?, ?)")
            .bind(1, name).bind(2, phase).bind(3, reason).bind(4, now).run();
        tx.commit();
        return true;
    }

    // The answer already given to this enrollment, when it is one asked again: the node of this machine-id was
    // enrolled with this key and this token, has reported nothing since (or still waits for approval, or was denied),
    // and its certificate is still valid.
    std::optional<enrollment_result> repeated(const enrollment& req) {
        sqlite_statement s(db_, "SELECT " + std::string(node_columns) +
                                    ", certificate_pem FROM nodes WHERE machine_id = ? AND key_pin = ? AND "
                                    "enrollment_token = ? AND phase IN ('enrolled', 'pending_approval', 'denied') AND "
                                    "key_pin != ''");
        s.bind(1, req.facts.machine_id).bind(2, req.key_pin).bind(3, req.token_id);
        if (!s.step()) return std::nullopt;
        enrollment_result result;
        result.node = read_node(s);
        result.certificate_pem = s.text(certificate_pem_column);
        result.repeated = true;
        if (result.node.phase == "denied") {
            result.verdict = token_verdict::denied;
            return result;
        }
        if (!certificate_still_valid(result.certificate_pem, req.now)) return std::nullopt;
        result.verdict = result.node.phase == "pending_approval" ? token_verdict::pending_approval : token_verdict::accepted;
        return result;
    }

    // Refuses an enrollment that claims `node`'s machine-id with another key, and notes it on the node for the
    // operator: a cloned card when the facts describe another board, else a re-flash (or a stolen machine-id).
    void record_conflict(const enrollment& req, const node_record& node, enrollment_result& result) {
        auto note = describe_conflict(req, node);
        sqlite_statement(db_, "UPDATE nodes SET conflict = ?, conflict_key_pin = ? WHERE name = ?")
            .bind(1, note.text).bind(2, note.key_pin).bind(3, node.name).run();
        result.verdict = note.verdict;
        result.node = node;
        result.node.conflict = std::move(note.text);
    }

    // Brings a registry written by an older coordinator up to this schema, one version at a time.
    void migrate() {
        sqlite_transaction tx(db_);
        std::int64_t version = 0;
        {
            sqlite_statement s(db_, "SELECT value FROM meta WHERE key = 'schema_version'");
            s.step();
            version = s.integer(0);
        }
        if (version < 2) {
            // 2: the id of the join credential a node holds, so it can be revoked once the node is Ready.
            db_.exec("ALTER TABLE nodes ADD COLUMN join_credential TEXT NOT NULL DEFAULT ''");
            db_.exec("UPDATE meta SET value = 2 WHERE key = 'schema_version'");
        }
        if (version < 3) {
            // 3: what an enrollment was answered with (the key it was for, the certificate, the token), so the same
            // enrollment asked again after a lost answer gets the same answer.
            db_.exec("ALTER TABLE nodes ADD COLUMN key_pin TEXT NOT NULL DEFAULT ''");
            db_.exec("ALTER TABLE nodes ADD COLUMN certificate_pem TEXT NOT NULL DEFAULT ''");
            db_.exec("ALTER TABLE nodes ADD COLUMN enrollment_token TEXT NOT NULL DEFAULT ''");
            db_.exec("UPDATE meta SET value = 3 WHERE key = 'schema_version'");
        }
        if (version < 4) {
            // 4: enrollment policy per token (approval, allow-list, revocation, a count of uses) and, per node, the
            // last conflicting enrollment and the operator's leave to replace its key.
            db_.exec("ALTER TABLE enrollment_tokens ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0");
            db_.exec("ALTER TABLE enrollment_tokens ADD COLUMN approval TEXT NOT NULL DEFAULT 'auto'");
            db_.exec("ALTER TABLE enrollment_tokens ADD COLUMN allow TEXT NOT NULL DEFAULT '[]'");
            db_.exec("ALTER TABLE enrollment_tokens ADD COLUMN revoked_at INTEGER");
            db_.exec("ALTER TABLE enrollment_tokens ADD COLUMN used INTEGER NOT NULL DEFAULT 0");
            db_.exec("ALTER TABLE nodes ADD COLUMN conflict TEXT NOT NULL DEFAULT ''");
            db_.exec("ALTER TABLE nodes ADD COLUMN conflict_key_pin TEXT NOT NULL DEFAULT ''");
            db_.exec("ALTER TABLE nodes ADD COLUMN replace_key_pin TEXT NOT NULL DEFAULT ''");
            db_.exec("ALTER TABLE nodes ADD COLUMN pending_serial TEXT NOT NULL DEFAULT ''");
            db_.exec("ALTER TABLE nodes ADD COLUMN pending_certificate_pem TEXT NOT NULL DEFAULT ''");
            // and the cluster's word on each Node, kept apart from the phase and its reason
            db_.exec("ALTER TABLE nodes ADD COLUMN readiness TEXT NOT NULL DEFAULT ''");
            db_.exec("UPDATE meta SET value = 4 WHERE key = 'schema_version'");
        }
        if (version < 5) {
            // 5: what each host-preparation step came to, as the node last reported it (journal excerpts have a
            // table of their own, made with the schema).
            db_.exec("ALTER TABLE nodes ADD COLUMN steps TEXT NOT NULL DEFAULT '[]'");
            db_.exec("UPDATE meta SET value = 5 WHERE key = 'schema_version'");
        }
        tx.commit();
    }

    sqlite3_stmt* data_version_ = nullptr;
    std::mutex mutex_;
    sqlite_db db_;
};

}  // namespace

std::unique_ptr<node_registry> open_sqlite_registry(const std::string& path) {
    return std::make_unique<sqlite_registry>(path);
}

sqlite_snapshot::sqlite_snapshot(const std::string& path)
    : db_(std::make_unique<sqlite_db>(path)), lock_(std::make_unique<sqlite_transaction>(*db_)) {
    using json = nlohmann::json;
    auto& db = *db_;
    std::int64_t next = 1;
    {
        sqlite_statement s(db, "SELECT value FROM meta WHERE key = 'next_node_number'");
        if (s.step()) next = s.integer(0);
    }
    json tokens = json::array(), nodes = json::array(), journal = json::object();
    {
        sqlite_statement s(db, "SELECT " + std::string(token_columns) + " FROM enrollment_tokens ORDER BY id");
        while (s.step()) tokens.push_back(json::parse(token_text(read_token(s))));
    }
    sqlite_statement s(db, "SELECT " + std::string(node_columns) +
                               ", certificate_pem, pending_certificate_pem, enrollment_token FROM nodes ORDER BY name");
    while (s.step()) {
        stored_node n;
        n.node = read_node(s);
        n.certificate_pem = s.text(certificate_pem_column);
        n.pending_certificate_pem = s.text(certificate_pem_column + 1);
        n.enrollment_token = s.text(certificate_pem_column + 2);
        const std::string& name = n.node.name;
        // The newest history_kept phases: what the etcd registry keeps.
        std::vector<json> history;
        {
            sqlite_statement h(db, "SELECT phase, reason, at FROM phase_history WHERE node = ? ORDER BY rowid");
            h.bind(1, name);
            while (h.step()) history.push_back(json::array({h.text(0), h.text(1), h.integer(2)}));
        }
        const std::size_t skip = history.size() > history_kept ? history.size() - history_kept : 0;
        n.history = json(std::vector<json>(history.begin() + static_cast<std::ptrdiff_t>(skip), history.end()));
        json excerpts = json::array();
        {
            sqlite_statement j(db, "SELECT unit, captured_at, excerpt FROM journal_excerpts WHERE node = ? ORDER BY rowid");
            j.bind(1, name);
            while (j.step()) excerpts.push_back({{"unit", j.text(0)}, {"captured_at", j.integer(1)}, {"excerpt", j.text(2)}});
        }
        n.journal_seq = static_cast<std::int64_t>(excerpts.size());
        if (!excerpts.empty()) journal[name] = std::move(excerpts);
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

}  // namespace graft::coordinator
