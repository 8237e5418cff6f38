#include "coordinator/store/registry.hpp"
#include "coordinator/store/sqlite.hpp"

#include "proto/crypto.hpp"
#include "proto/pki.hpp"

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
)sql";

constexpr std::string_view node_columns =
    "name, machine_id, serial, model, arch, address, facts, phase, reason, certificate_serial, enrolled_at, "
    "updated_at, join_command, join_issued_at, join_expires_at, join_credential";

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
    return n;
}

class sqlite_registry final : public node_registry {
public:
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
        sqlite_statement(db_, "INSERT INTO enrollment_tokens (id, secret_sha256, expires_at, uses_left) VALUES (?,?,?,?)")
            .bind(1, token.id).bind(2, token.secret_sha256).bind(3, token.expires_at).bind(4, token.uses_left).run();
    }

    enrollment_result enroll(const enrollment& req) override {
        std::lock_guard lock(mutex_);
        sqlite_transaction tx(db_);
        enrollment_result result;
        {
            sqlite_statement s(db_, "SELECT secret_sha256, expires_at, uses_left FROM enrollment_tokens WHERE id = ?");
            s.bind(1, req.token_id);
            if (!s.step()) return result;  // unknown
            if (!proto::constant_time_equal(s.text(0), proto::sha256_hex(req.token_secret))) {
                result.verdict = token_verdict::wrong_secret;
                return result;
            }
            if (auto again = repeated(req)) return *again;
            if (s.integer(1) <= req.now) {
                result.verdict = token_verdict::expired;
                return result;
            }
            if (auto uses = s.optional_integer(2); uses && *uses <= 0) {
                result.verdict = token_verdict::used_up;
                return result;
            }
        }

        std::string name;
        {
            sqlite_statement s(db_, "SELECT name FROM nodes WHERE machine_id = ?");
            s.bind(1, req.facts.machine_id);
            if (s.step()) {
                name = s.text(0);
                result.returning = true;
            }
        }
        if (name.empty()) {
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

        auto [certificate_pem, certificate_serial] = req.issue_certificate(name);
        const std::string facts = req.facts.to_json().dump();
        sqlite_statement(db_, R"sql(
            INSERT INTO nodes (name, machine_id, serial, model, arch, address, facts, phase, reason, certificate_serial,
                               enrolled_at, updated_at, key_pin, certificate_pem, enrollment_token)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'enrolled', '', ?8, ?9, ?9, ?10, ?11, ?12)
            ON CONFLICT(name) DO UPDATE SET serial = ?3, model = ?4, arch = ?5, address = ?6, facts = ?7,
              phase = 'enrolled', reason = '', certificate_serial = ?8, enrolled_at = ?9, updated_at = ?9,
              join_command = '', join_issued_at = NULL, join_expires_at = NULL, key_pin = ?10, certificate_pem = ?11,
              enrollment_token = ?12)sql")
            .bind(1, name).bind(2, req.facts.machine_id).bind(3, req.facts.serial).bind(4, req.facts.model)
            .bind(5, req.facts.arch).bind(6, req.address).bind(7, facts).bind(8, certificate_serial).bind(9, req.now)
            .bind(10, req.key_pin).bind(11, certificate_pem).bind(12, req.token_id)
            .run();
        sqlite_statement(db_, "INSERT INTO phase_history (node, phase, reason, at) VALUES (?, 'enrolled', '', ?)")
            .bind(1, name).bind(2, req.now).run();
        sqlite_statement(db_, "UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE id = ? AND uses_left IS NOT NULL")
            .bind(1, req.token_id).run();
        tx.commit();

        result.verdict = token_verdict::accepted;
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
                      const std::optional<std::string>& address, std::int64_t now) override {
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
        sqlite_statement(db_, "UPDATE nodes SET phase = ?, reason = ?, address = COALESCE(?, address), updated_at = ? WHERE name = ?")
            .bind(1, phase).bind(2, reason).bind_text_or_null(3, address ? std::optional<std::string_view>(*address) : std::nullopt)
            .bind(4, now).bind(5, name).run();
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

    std::vector<std::tuple<std::string, std::string, std::int64_t>> history(const std::string& name) override {
        std::lock_guard lock(mutex_);
        sqlite_statement s(db_, "SELECT phase, reason, at FROM phase_history WHERE node = ? ORDER BY rowid");
        s.bind(1, name);
        std::vector<std::tuple<std::string, std::string, std::int64_t>> out;
        while (s.step()) out.emplace_back(s.text(0), s.text(1), s.integer(2));
        return out;
    }

    bool clear_join_credential(const std::string& name, const std::string& credential) override {
        std::lock_guard lock(mutex_);
        sqlite_statement s(db_, "UPDATE nodes SET join_credential = '' WHERE name = ? AND join_credential = ?");
        s.bind(1, name).bind(2, credential).run();
        return sqlite3_changes(db_.handle()) > 0;
    }

private:
    // The answer already given to this enrollment, when it is one asked again: the node of this machine-id was
    // enrolled with this key and this token, has reported nothing since, and its certificate is still valid.
    std::optional<enrollment_result> repeated(const enrollment& req) {
        sqlite_statement s(db_, "SELECT " + std::string(node_columns) +
                                    ", certificate_pem FROM nodes WHERE machine_id = ? AND key_pin = ? AND "
                                    "enrollment_token = ? AND phase = 'enrolled' AND key_pin != ''");
        s.bind(1, req.facts.machine_id).bind(2, req.key_pin).bind(3, req.token_id);
        if (!s.step()) return std::nullopt;
        enrollment_result result;
        result.node = read_node(s);
        result.certificate_pem = s.text(16);
        try {
            if (proto::not_after(*proto::certificate_from_pem(result.certificate_pem)) <= proto::from_unix(req.now))
                return std::nullopt;
        } catch (const std::exception&) {
            return std::nullopt;
        }
        result.verdict = token_verdict::accepted;
        result.repeated = true;
        return result;
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
        tx.commit();
    }

    std::mutex mutex_;
    sqlite_db db_;
};

}  // namespace

std::unique_ptr<node_registry> open_sqlite_registry(const std::string& path) {
    return std::make_unique<sqlite_registry>(path);
}

}  // namespace graft::coordinator
