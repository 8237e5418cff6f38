#pragma once
// A thin RAII layer over SQLite's C API. Every call goes through sqlite_check, which throws sqlite_error naming
// the call, the database file and SQLite's message. A database is used by one thread at a time; the registry above
// it holds the lock.

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>
#include <string_view>

namespace graft::coordinator {

struct sqlite_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class sqlite_db;

class sqlite_statement {
public:
    sqlite_statement(sqlite_db& db, std::string_view sql);
    ~sqlite_statement();
    sqlite_statement(const sqlite_statement&) = delete;
    sqlite_statement& operator=(const sqlite_statement&) = delete;

    sqlite_statement& bind(int index, std::string_view value);
    sqlite_statement& bind(int index, std::int64_t value);
    sqlite_statement& bind(int index, std::optional<std::int64_t> value);
    sqlite_statement& bind_text_or_null(int index, std::optional<std::string_view> value);
    sqlite_statement& bind_null(int index);
    // Advances to the next row; false when there is none.
    bool step();
    // Runs a statement that returns no rows.
    void run();
    std::string text(int column) const;
    std::int64_t integer(int column) const;
    std::optional<std::int64_t> optional_integer(int column) const;

private:
    sqlite_db& db_;
    sqlite3_stmt* stmt_ = nullptr;
};

class sqlite_db {
public:
    explicit sqlite_db(const std::string& path);
    ~sqlite_db();
    sqlite_db(const sqlite_db&) = delete;
    sqlite_db& operator=(const sqlite_db&) = delete;

    void exec(std::string_view sql);
    void check(int rc, std::string_view call);
    sqlite3* handle() { return db_; }
    const std::string& path() const { return path_; }

    // A prepared statement for `sql`: one compiled before and given back, or a new one. Compiling was an eighth of
    // the coordinator's CPU in a storm of enrollments. Not thread-safe, like the connection itself.
    sqlite3_stmt* take_statement(std::string_view sql);
    // Resets a statement from take_statement() and keeps it for the next use of its SQL.
    void give_back(sqlite3_stmt* stmt);

private:
    std::string path_;
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK unless commit() was called.
class sqlite_transaction {
public:
    explicit sqlite_transaction(sqlite_db& db);
    ~sqlite_transaction();
    void commit();

private:
    sqlite_db& db_;
    bool done_ = false;
};

}  // namespace graft::coordinator
