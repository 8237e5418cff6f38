#pragma once
// A small client of etcd's v3 API through its JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/lease/...) over
// mutual TLS: what the etcd registry and the leader election need, and no more. Keys and values are bytes that the
// gateway carries as base64; 64-bit numbers come as JSON strings. Requests go to one member at a time over kept
// connections and move to the next member when one cannot be reached or answers that it cannot serve (no leader, a
// stopped member), so a cluster that keeps its quorum keeps serving.

#include "coordinator/store/registry.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace graft::coordinator {

struct etcd_options {
    std::vector<std::string> endpoints;  // https://HOST:PORT of each member
    std::string ca_file, cert_file, key_file;
    std::chrono::seconds timeout{5};  // per request to one member
    // How often each member is tried before a request fails: twice gives a cluster time to elect a new leader.
    int rounds = 2;
};

struct etcd_kv {
    std::string key, value;
    std::int64_t create_revision = 0, mod_revision = 0, lease = 0;
};

// The cluster could not be reached, or none of its members could answer (no quorum): the registry is unavailable,
// and the router answers 503 as for a full disk.
struct etcd_unavailable : registry_unavailable {
    using registry_unavailable::registry_unavailable;
};

// One operation of a transaction: a put (with a lease, optionally), or the deletion of a key or of a prefix.
struct etcd_op {
    enum class kind { put, erase, erase_prefix } what = kind::put;
    std::string key, value;
    std::int64_t lease = 0;
    static etcd_op put(std::string key, std::string value, std::int64_t lease = 0) {
        return {kind::put, std::move(key), std::move(value), lease};
    }
    static etcd_op erase(std::string key) { return {kind::erase, std::move(key), {}, 0}; }
    static etcd_op erase_prefix(std::string prefix) { return {kind::erase_prefix, std::move(prefix), {}, 0}; }
};

// A condition of a transaction on a key's mod revision (0: the key does not exist).
struct etcd_compare {
    std::string key;
    std::int64_t mod_revision = 0;
};

struct etcd_txn_result {
    bool succeeded = false;
    std::int64_t revision = 0;  // the cluster's revision after it
};

class etcd_client {
public:
    explicit etcd_client(etcd_options options);
    ~etcd_client();
    etcd_client(const etcd_client&) = delete;
    etcd_client& operator=(const etcd_client&) = delete;

    std::optional<etcd_kv> get(const std::string& key, std::int64_t* revision = nullptr);
    // Every key starting with `prefix`, in key order, read at one revision (in pages).
    struct range_options {
        bool keys_only = false;               // no values: keys and revisions only
        std::int64_t min_mod_revision = 0;    // only keys changed at or after this revision
        std::int64_t at_revision = 0;         // read at this revision rather than the newest
    };
    std::vector<etcd_kv> get_prefix(const std::string& prefix, std::int64_t* revision = nullptr);
    std::vector<etcd_kv> get_prefix(const std::string& prefix, const range_options& options, std::int64_t* revision = nullptr);
    // How many keys start with `prefix`, at `at_revision` (0: now).
    std::size_t count_prefix(const std::string& prefix, std::int64_t at_revision = 0);
    // The cluster's current revision: it changes with every write to it.
    std::int64_t revision();
    // All of `success` when every compare holds, else nothing; at most 128 operations (etcd's default limit).
    etcd_txn_result txn(const std::vector<etcd_compare>& compares, const std::vector<etcd_op>& success);
    // Puts `value` at `key` only if the key does not exist; the holder of the key when it does.
    std::optional<etcd_kv> create(const std::string& key, const std::string& value, std::int64_t lease);

    std::int64_t lease_grant(std::chrono::seconds ttl);
    // False when the lease has expired (or never was).
    bool lease_keepalive(std::int64_t id);
    void lease_revoke(std::int64_t id);

    // The raw call: POST `path` with a JSON body to a member, moving on to the next when one fails.
    nlohmann::json call(const std::string& path, const nlohmann::json& body);

private:
    struct pool;
    std::unique_ptr<pool> pool_;
};

// The registry in etcd, every key under `prefix` (one prefix per coordinator deployment, so one etcd cluster can hold
// several). Throws etcd_unavailable when no member answers.
std::unique_ptr<node_registry> open_etcd_registry(etcd_options options, std::string prefix);

// The end of the key range that holds every key with `prefix` (etcd's range_end for a prefix).
std::string prefix_end(std::string prefix);

}  // namespace graft::coordinator
