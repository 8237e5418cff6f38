#pragma once
// The typed messages of graft's wire protocol (/v1). Each has to_json() and a strict from_json() that refuses a
// missing, unknown or wrongly typed field with a validation_error naming it. docs/protocol.md describes them.

#include "proto/json_fields.hpp"
#include "proto/phases.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace graft::proto {


// An RFC 1123 label, as Kubernetes requires of a node name: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool is_node_name(std::string_view name);
// A systemd unit's name as a journal excerpt or request may carry one: letters, digits and -_.@, at most 128.
bool is_unit_name(std::string_view name);

struct hardware_facts {
    std::string machine_id;  // /etc/machine-id: 32 lowercase hex digits, the node's stable identity
    std::string serial;
    std::string model;
    std::string arch;
    std::string hostname;
    std::vector<std::string> macs;
    std::vector<std::string> addresses;
    std::string os;
    std::string kernel;
    std::optional<std::int64_t> cgroup_version;
    std::optional<std::string> kubelet_version;
    std::optional<std::string> kubeadm_version;
    // Set by an agent that found its card was cloned from another board's: the machine-id it had before it made
    // itself a fresh one, so the coordinator can report the clone.
    std::optional<std::string> cloned_from = {};
    // The firmware's system UUID (DMI product_uuid on x86 boards; none on a Pi), as kubelet reports it in
    // status.nodeInfo.systemUUID.
    std::optional<std::string> system_uuid = {};

    json to_json() const;
    static hardware_facts from_json(const json& j, const std::string& path = "facts");
};

// Whether two sets of facts describe one board. Serial numbers decide when both have one (a USB network adapter moves
// between boards; a serial does not); else a network interface in common does. Facts with neither give no evidence
// and are taken for the same board.
bool same_board(const hardware_facts& a, const hardware_facts& b);

struct enroll_request {
    std::int64_t protocol_version = 0;
    std::string enrollment_token;
    std::string csr_pem;
    hardware_facts facts;

    json to_json() const;
    static enroll_request from_json(const json& j);
};

// What the coordinator tells a node to become. Grows with the host-preparation and join work.
struct node_profile {
    std::string flavour = "kubeadm";  // a name of proto/flavours.hpp

    json to_json() const;
    static node_profile from_json(const json& j, const std::string& path = "profile");
};

struct enroll_response {
    std::int64_t protocol_version = 0;
    std::string node_name;
    std::string certificate_pem;
    std::string ca_certificate_pem;
    node_profile profile;

    json to_json() const;
    static enroll_response from_json(const json& j);
};

// A node's request for a new certificate for its key, made over its current one.
struct renew_request {
    std::string csr_pem;

    json to_json() const;
    static renew_request from_json(const json& j);
};

struct renew_response {
    std::string certificate_pem;

    json to_json() const;
    static renew_response from_json(const json& j);
};

// What one host-preparation step came to, as the agent reports it with configured, rebooting or failed.
struct step_outcome {
    std::string step;
    std::string outcome;  // unchanged, changed, reboot, failed, not-run
    std::string detail = {};

    json to_json() const;
    static step_outcome from_json(const json& j, const std::string& path);
};

struct node_report {
    enum phase phase = phase::booted;
    std::string message;
    std::optional<std::string> address;
    // Every step's outcome, oldest first; empty when the report is not about host preparation.
    std::vector<step_outcome> steps = {};

    json to_json() const;
    static node_report from_json(const json& j);
};

// A journal excerpt's bounds: lines, and bytes in one line. An upload must fit proto::max_body_bytes as well.
inline constexpr std::size_t max_journal_lines = 500;
inline constexpr std::size_t max_journal_line = 1024;

// The last lines of one unit's journal, as the agent read them (secrets redacted) for the coordinator to keep.
struct journal_excerpt {
    std::string unit;
    std::string cause;        // why it was taken: "join failed", "host preparation failed", "asked by alice"
    std::string captured_at;  // RFC 3339
    std::vector<std::string> lines;  // "TIME IDENTIFIER[PID]: MESSAGE", oldest first
    bool truncated = false;          // more lines matched than were sent
    bool empty = false;              // the unit had no entries (not sent: the lines say so)

    json to_json() const;
    static journal_excerpt from_json(const json& j, const std::string& path);
};

// POST /v1/nodes/NAME/journal: excerpts a node sends, unasked after a failure or for an operator's request.
struct journal_upload {
    std::vector<journal_excerpt> excerpts;
    std::string request_id = {};  // the operator's request this answers; empty when unasked

    json to_json() const;
    static journal_upload from_json(const json& j);
};

struct join_request {
    std::optional<std::string> kubelet_version;
    std::optional<std::string> kubeadm_version;

    json to_json() const;
    static join_request from_json(const json& j);
};

// A per-node credential for joining the cluster. The token is a secret: it never goes to a log; display_command()
// shows it redacted.
struct join_spec {
    std::string node_name;
    std::string flavour = "kubeadm";  // a name of proto/flavours.hpp
    std::string api_server_endpoint;  // host:port
    // kubeadm: <id>.<secret>, [a-z0-9]{6}.[a-z0-9]{16}; k3s: a secure token K10<ca hash>::<credentials>;
    // k0s: the join token `k0s token create` prints
    std::string token;
    std::vector<std::string> ca_cert_hashes;  // kubeadm: sha256:<hex> pins of the cluster CA
    std::string expires_at;           // RFC 3339, empty when the backend does not say
    // The coordinator's own note of which credential this is (a bootstrap token id), so it can revoke it; never sent.
    std::string credential_id;

    json to_json() const;
    static join_spec from_json(const json& j);
    // The join command line this spec stands for, with the token's secret part replaced by asterisks.
    std::string display_command() const;
};

// kubeadm's bootstrap token form: six [a-z0-9], a dot, sixteen [a-z0-9].
bool is_bootstrap_token(std::string_view token);
// `text` with everything shaped like a bootstrap token replaced by <token>: for a program's output that goes to a log
// or into an error message.
std::string redact_tokens(std::string_view text);

struct node_status {
    std::string name;
    std::string phase;
    std::string reason;
    std::string address;
    std::string model;
    std::string arch;
    std::string enrolled_at;
    std::string updated_at;
    std::string join_command;    // redacted, empty until a join spec was issued
    std::string join_issued_at;  // RFC 3339, empty until then
    // Whether the coordinator watches the cluster's Nodes, and so will move this node to ready (or deleted). A node
    // whose coordinator does not (it has no kubeconfig) is done once it has joined.
    bool readiness_tracked = false;
    // The last enrollment refused because it claimed this node's machine-id with another key, and what to do about
    // it; empty when there was none since the node last enrolled.
    std::string conflict = {};
    // The cluster's word on the Node: "Ready", "NotReady", or empty while it has said nothing.
    std::string readiness = {};
    // When the coordinator last heard from the node's agent (RFC 3339); empty when not since it started.
    std::string last_seen = {};

    json to_json() const;
    static node_status from_json(const json& j);
};

struct error_body {
    std::string code;
    std::string message;

    json to_json() const;
    static error_body from_json(const json& j);
};

}  // namespace graft::proto
