#pragma once
// Moving a fleet from one coordinator's SQLite registry into etcd (`graft-coordinator migrate`). The whole registry
// travels as one JSON document, the same from either store, so the copy is checked by reading it back from etcd and
// comparing:
//   {"next_node_number": N, "tokens": [token...], "nodes": [node...], "journal": {"NAME": [excerpt...]}}
// with tokens and nodes in registry_json.hpp's form, sorted by id and name.

#include "coordinator/store/etcd.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace graft::coordinator {

class sqlite_db;
class sqlite_transaction;

// The SQLite registry at `path`, read whole under its write lock: a coordinator still running on it waits, and its
// writes answer 503 after a few seconds, so nothing changes between the copy and the freeze.
class sqlite_snapshot {
public:
    explicit sqlite_snapshot(const std::string& path);
    ~sqlite_snapshot();  // unless frozen: the lock is released and the registry is as it was
    const nlohmann::json& contents() const { return contents_; }
    // From now on the registry refuses every write, and opening it, with `why`; then the lock is released.
    void freeze(const std::string& why);

private:
    std::unique_ptr<sqlite_db> db_;
    std::unique_ptr<sqlite_transaction> lock_;
    nlohmann::json contents_;
};

// The registry under `prefix` in etcd, in the same form.
nlohmann::json export_etcd_registry(etcd_client& etcd, const std::string& prefix);
// Writes `contents` under `prefix`, which must hold nothing: every key is created, never overwritten (a key that
// exists makes it throw, leaving what it wrote so far for the caller to take out).
void import_etcd_registry(etcd_client& etcd, const std::string& prefix, const nlohmann::json& contents);

}  // namespace graft::coordinator
