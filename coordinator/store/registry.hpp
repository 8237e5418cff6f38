#pragma once
// The coordinator's record of every node and of the enrollment tokens. The interface is what the router needs;
// sqlite_registry is the embedded implementation (an etcd one is planned for several coordinators).

#include "proto/messages.hpp"
#include "proto/time.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace graft::coordinator {

struct node_record {
    std::string name;
    std::string machine_id;
    std::string serial;
    std::string model;
    std::string arch;
    std::string address;
    std::string facts_json;
    std::string phase;
    std::string reason;
    std::string certificate_serial;
    std::int64_t enrolled_at = 0;
    std::int64_t updated_at = 0;
    std::string join_command;  // redacted
    std::optional<std::int64_t> join_issued_at;
    std::optional<std::int64_t> join_expires_at;
    std::string join_credential;  // the id of the credential the node holds (a bootstrap token id), "" when none
    std::string key_pin = {};     // the key the node enrolled with (spki_pin form); "" for a node from before schema 3
    // The last enrollment refused because it claimed this machine-id with another key; "" when none since.
    std::string conflict = {};
    std::string conflict_key_pin = {};
    // Set by `nodes replace`: the key (or "*", any key) the next enrollment of this machine-id may bring.
    std::string replace_key_pin = {};
    // A renewed certificate the node has not used yet; the current one speaks for it until it does.
    std::string pending_serial = {};
    // The cluster's word on the Node: "Ready", "NotReady", or "" while it has said nothing (or the Node is gone).
    std::string readiness = {};
    // What each host-preparation step came to, as the node last reported it: a JSON array of step_outcome.
    std::string steps_json = "[]";
};

// A journal excerpt a node sent, kept as its JSON (proto::journal_excerpt).
struct stored_excerpt {
    std::string unit;
    std::int64_t captured_at = 0;
    std::string excerpt_json;
};

// Whether a machine enrolling with a token becomes a node at once, or waits for `nodes approve`.
enum class approval_mode { automatic, required };

// An enrollment token as stored: its public id, the SHA-256 of its secret half, never the secret itself.
struct stored_token {
    std::string id;
    std::string secret_sha256;
    std::int64_t expires_at = 0;
    std::optional<std::int64_t> uses_left;  // nullopt: unlimited until it expires
    std::int64_t created_at = 0;
    approval_mode approval = approval_mode::automatic;
    // Which machines may use it: "serial:S", "mac:M" or "machine-id:ID" entries; empty: any machine.
    std::vector<std::string> allow = {};
    std::optional<std::int64_t> revoked_at = {};
    std::int64_t used = 0;  // enrollments it has admitted
};

// What became of an enrollment. The refusals after `used_up` concern the machine rather than the token.
enum class token_verdict {
    accepted,
    unknown,
    wrong_secret,
    expired,
    used_up,
    revoked,            // an operator revoked the token
    not_allowed,        // the machine is not on the token's allow-list
    pending_approval,   // recorded; the node waits for `nodes approve`
    denied,             // an operator denied this machine's enrollment
    identity_conflict,  // the machine-id is a node's that enrolled with another key, from the same board
    cloned,             // the machine-id is a node's on another board: a cloned card
};

struct enrollment_result {
    token_verdict verdict = token_verdict::unknown;
    node_record node;        // set when accepted
    bool returning = false;  // a machine that had enrolled before and keeps its name
    bool repeated = false;   // the same enrollment asked again (its answer was lost): the same certificate, no use spent
    bool replaced = false;   // a new key for the node, accepted by `nodes replace` or by its still-valid certificate
    std::string certificate_pem;
};

struct enrollment {
    std::string token_id;
    std::string token_secret;
    proto::hardware_facts facts;
    std::string key_pin;  // the CSR's public key, spki_pin form
    // The serial of a client certificate the request came with, verified against graft's CA, and the node it names:
    // a node that presents its current certificate may enroll again with a new key.
    std::string presented_node = {};
    std::string presented_serial = {};
    std::string address;
    std::int64_t now = 0;
    std::string name_prefix = "node";
    // Whether a name is taken outside the registry (a Node of that name in the cluster); such names are skipped.
    std::function<bool(const std::string& name)> name_taken;
    // Called inside the transaction with the node's assigned name; returns the signed certificate (PEM) and its serial.
    std::function<std::pair<std::string, std::string>(const std::string& name)> issue_certificate;
};

// The registry cannot be written now (its disk is full or read-only, or another process holds it locked). Every
// change is a transaction, so nothing half-written is left; the caller answers 503 and the client tries again.
struct registry_unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The nodes written after a revision of the store (all of them from revision 0), how many nodes there are, and the
// revision to ask from next time.
struct node_delta {
    std::vector<node_record> changed;
    std::size_t total = 0;
    std::int64_t revision = 0;
};

// Implementations are safe to call from several threads at once.
class node_registry {
public:
    virtual ~node_registry() = default;

    virtual void add_token(const stored_token& token) = 0;
    virtual std::vector<stored_token> tokens() = 0;
    // Revokes a token at `now`: it admits no more enrollments. False when there is no such token.
    virtual bool revoke_token(const std::string& id, std::int64_t now) = 0;
    // Deletes tokens that expired or were revoked before `before`; returns how many.
    virtual std::size_t purge_tokens(std::int64_t before) = 0;
    // Checks the token and, when it is accepted, records the node and uses the token up by one, all in one durable
    // transaction: when enroll() returns an accepted result, the node survives a crash of the coordinator.
    // Nothing is written for a refused token. An enrollment repeated by the same machine, with the same key and token,
    // before the node reported anything (its answer was lost after the commit) gets the same certificate again,
    // spends no use of the token and writes nothing.
    virtual enrollment_result enroll(const enrollment& request) = 0;
    virtual std::optional<node_record> find(const std::string& name) = 0;
    virtual std::vector<node_record> list() = 0;
    // Records a phase (and the history row when it changed); false when the node is unknown. `readiness`, when
    // given, replaces the cluster's word on the Node. Use change_phase() (phase_change.hpp), which checks the move
    // and logs it, rather than this.
    virtual bool record_phase(const std::string& name, std::string_view phase, std::string_view reason,
                              const std::optional<std::string>& address, std::int64_t now,
                              const std::optional<std::string>& readiness = std::nullopt) = 0;
    virtual bool record_join(const std::string& name, const std::string& display_command, std::int64_t issued_at,
                             std::optional<std::int64_t> expires_at, const std::string& credential = {}) = 0;
    // Forgets the node's credential once it has been revoked; false when the node holds another (or none).
    virtual bool clear_join_credential(const std::string& name, const std::string& credential) = 0;
    // A renewed certificate for the node, signed by `issue` (PEM and serial) and kept pending until first used. A
    // renewal asked again before that gets the same certificate. Empty when the node is unknown.
    virtual std::string renew(const std::string& name, std::int64_t now,
                              const std::function<std::pair<std::string, std::string>()>& issue) = 0;
    // The node's pending certificate becomes its current one (it has just used it); the one before speaks for it no
    // more. False unless `serial` is the pending serial.
    virtual bool promote_certificate(const std::string& name, const std::string& serial) = 0;
    // An operator's decisions. approve: a pending node becomes enrolled (its agent gets its certificate on its next
    // try); deny: it becomes denied and its enrollment is refused from then on. Both false unless it is pending.
    virtual bool approve(const std::string& name, std::int64_t now) = 0;
    virtual bool deny(const std::string& name, std::int64_t now) = 0;
    // Accepts a new key for the node's machine-id on its next enrollment: the key of the refused conflicting
    // enrollment when there was one, else any key. False when the node is unknown.
    virtual bool allow_replacement(const std::string& name) = 0;
    // Forgets the node (its history too): its certificates speak for nobody from the next request on, and its
    // machine enrolls as a new node. False when the node is unknown.
    virtual bool remove(const std::string& name) = 0;
    // Keeps the step outcomes a node reported (a JSON array); false when the node is unknown.
    virtual bool record_steps(const std::string& name, const std::string& steps_json) = 0;
    // Keeps journal excerpts a node sent, and of all its excerpts only the newest `keep`; false when the node is
    // unknown.
    virtual bool add_journal(const std::string& name, const std::vector<stored_excerpt>& excerpts, std::size_t keep) = 0;
    // The node's kept excerpts, oldest first.
    virtual std::vector<stored_excerpt> journal(const std::string& name) = 0;
    // The phases a node passed through, oldest first: (phase, reason, unix time).
    virtual std::vector<std::tuple<std::string, std::string, std::int64_t>> history(const std::string& name) = 0;
    // A number that changes when another process (an operator's command) has written to the registry since the
    // last call; this process's own writes leave it as it is. Without `wait`, nullopt rather than waiting while
    // another thread holds the registry.
    virtual std::optional<std::int64_t> data_version(bool wait = true) = 0;
    // What changed since `revision`, for a store that can say so cheaply (etcd: its mod revisions), so the status
    // snapshot need not read the whole fleet after each write of another coordinator. nullopt: it cannot.
    virtual std::optional<node_delta> changed_since(std::int64_t revision) {
        (void)revision;
        return std::nullopt;
    }
};

std::unique_ptr<node_registry> open_sqlite_registry(const std::string& path);

}  // namespace graft::coordinator
