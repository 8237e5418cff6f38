#include "coordinator/store/sqlite.hpp"

#include "coordinator/store/registry.hpp"

namespace graft::coordinator {

sqlite_db::sqlite_db(const std::string& path) : path_(path) {
    int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
        std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        throw sqlite_error("cannot open the node registry " + path + ": " + message);
    }
    sqlite3_busy_timeout(db_, 5000);
}

sqlite_db::~sqlite_db() {
    for (auto& [sql, stmts] : idle_)
        for (auto* stmt : stmts) sqlite3_finalize(stmt);
    sqlite3_close(db_);
}

sqlite3_stmt* sqlite_db::take_statement(std::string_view sql) {
    if (auto it = idle_.find(std::string(sql)); it != idle_.end() && !it->second.empty()) {
        auto* stmt = it->second.back();
        it->second.pop_back();
        return stmt;
    }
    sqlite3_stmt* stmt = nullptr;
    check(sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr),
          "sqlite3_prepare_v3");
    return stmt;
}

void sqlite_db::give_back(sqlite3_stmt* stmt) {
    if (!stmt) return;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    auto& kept = idle_[sqlite3_sql(stmt)];
    if (kept.size() < 4) kept.push_back(stmt);
    else sqlite3_finalize(stmt);
}

void sqlite_db::check(int rc, std::string_view call) {
    if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
    const std::string what = std::string(call) + " on " + path_ + " failed: " + sqlite3_errmsg(db_);
    // Conditions of the machine rather than of the request: they pass, and the request can be asked again.
    switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
        throw registry_unavailable(what);
    default:
        throw sqlite_error(what);
    }
}

void sqlite_db::exec(std::string_view sql) {
    check(sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, nullptr), "sqlite3_exec");
}

sqlite_statement::sqlite_statement(sqlite_db& db, std::string_view sql) : db_(db), stmt_(db.take_statement(sql)) {}

sqlite_statement::~sqlite_statement() { db_.give_back(stmt_); }

sqlite_statement& sqlite_statement::bind(int index, std::string_view value) {
    db_.check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT),
              "sqlite3_bind_text");
    return *this;
}

sqlite_statement& sqlite_statement::bind(int index, std::int64_t value) {
    db_.check(sqlite3_bind_int64(stmt_, index, value), "sqlite3_bind_int64");
    return *this;
}

sqlite_statement& sqlite_statement::bind(int index, std::optional<std::int64_t> value) {
    return value ? bind(index, *value) : bind_null(index);
}

sqlite_statement& sqlite_statement::bind_text_or_null(int index, std::optional<std::string_view> value) {
    return value ? bind(index, *value) : bind_null(index);
}

sqlite_statement& sqlite_statement::bind_null(int index) {
    db_.check(sqlite3_bind_null(stmt_, index), "sqlite3_bind_null");
    return *this;
}

bool sqlite_statement::step() {
    int rc = sqlite3_step(stmt_);
    db_.check(rc, "sqlite3_step");
    return rc == SQLITE_ROW;
}

void sqlite_statement::run() {
    while (step()) {}
}

std::string sqlite_statement::text(int column) const {
    auto p = sqlite3_column_text(stmt_, column);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
             : std::string();
}

std::int64_t sqlite_statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

std::optional<std::int64_t> sqlite_statement::optional_integer(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return integer(column);
}

sqlite_transaction::sqlite_transaction(sqlite_db& db) : db_(db) { sqlite_statement(db_, "BEGIN IMMEDIATE").run(); }

sqlite_transaction::~sqlite_transaction() {
    if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void sqlite_transaction::commit() {
    sqlite_statement(db_, "COMMIT").run();
    done_ = true;
}

}  // namespace graft::coordinator
