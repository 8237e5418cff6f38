#pragma once
// A node and a token as JSON, the same form whichever store keeps them: the etcd registry's values, and what
// `migrate` carries from one registry to another. A node here is all a registry keeps of it, certificates and phase
// history included, beyond the record the router sees.

#include "coordinator/store/registry.hpp"

#include <nlohmann/json.hpp>

namespace graft::coordinator {

struct stored_node {
    node_record node;
    std::string certificate_pem, pending_certificate_pem, enrollment_token;
    nlohmann::json history = nlohmann::json::array();  // [phase, reason, at], oldest first
    std::int64_t journal_seq = 0;                       // the etcd registry's last journal excerpt number
};

// A phase history longer than this keeps its newest entries: one etcd key stays well under its request limit.
inline constexpr std::size_t history_kept = 1000;
void add_history(stored_node& s, std::string_view phase, std::string_view reason, std::int64_t at);

std::string node_text(const stored_node& s);
// Strict: throws nlohmann::json::exception on a missing or mistyped field.
stored_node node_from(const std::string& text);
std::string token_text(const stored_token& t);
stored_token token_from(const std::string& text);

// Where the etcd registry keeps each thing under its prefix (etcd_registry.cpp describes them); migrate writes and
// reads the same keys.
struct etcd_layout {
    std::string prefix;  // ends with '/'
    std::string token(const std::string& id) const { return prefix + "tokens/" + id; }
    std::string node(const std::string& name) const { return prefix + "nodes/" + name; }
    std::string machine(const std::string& id) const { return prefix + "machine-ids/" + id; }
    std::string journal(const std::string& name) const { return prefix + "journal/" + name + "/"; }
    // Zero-padded, so the keys sort oldest first.
    std::string journal(const std::string& name, std::int64_t seq) const;
    std::string counter() const { return prefix + "meta/next-node-number"; }
    // Beside the registry, what coordinators tell each other (etcd_presence.hpp): operators' journal requests of a
    // node, and when each node was last heard from.
    std::string journal_requests(const std::string& name) const { return prefix + "journal-requests/" + name + "/"; }
    std::string journal_request(const std::string& name, const std::string& id) const {
        return journal_requests(name) + id;
    }
    std::string seen() const { return prefix + "seen/"; }
    std::string seen(const std::string& name) const { return seen() + name; }
};

}  // namespace graft::coordinator
