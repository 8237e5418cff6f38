#include "coordinator/store/enrollment_rules.hpp"

#include "proto/pki.hpp"
#include "proto/time.hpp"

#include <algorithm>

namespace graft::coordinator {
namespace {

// Whether the machine matches an entry of a token's allow-list (serial:, mac: or machine-id:).
bool allowed(const std::vector<std::string>& allow, const proto::hardware_facts& facts) {
    if (allow.empty()) return true;
    for (const auto& entry : allow) {
        const auto colon = entry.find(':');
        const std::string kind = entry.substr(0, colon), value = entry.substr(colon + 1);
        if (kind == "serial" && !facts.serial.empty() && facts.serial == value) return true;
        if (kind == "machine-id" && facts.machine_id == value) return true;
        if (kind == "mac" && std::find(facts.macs.begin(), facts.macs.end(), value) != facts.macs.end()) return true;
    }
    return false;
}

std::string board_summary(const proto::hardware_facts& f) {
    std::string out = f.serial.empty() ? "no serial number" : "serial " + f.serial;
    if (!f.macs.empty()) out += ", MAC " + f.macs.front();
    return out;
}

}  // namespace

token_verdict token_admits(const stored_token& token, const enrollment& request) {
    if (token.revoked_at) return token_verdict::revoked;
    if (token.expires_at <= request.now) return token_verdict::expired;
    if (token.uses_left && *token.uses_left <= 0) return token_verdict::used_up;
    if (!allowed(token.allow, request.facts)) return token_verdict::not_allowed;
    return token_verdict::accepted;
}

bool certificate_still_valid(const std::string& certificate_pem, std::int64_t now) {
    try {
        return proto::not_after(*proto::certificate_from_pem(certificate_pem)) > proto::from_unix(now);
    } catch (const std::exception&) {
        return false;
    }
}

returning_kind returning_machine(const enrollment& req, const node_record& node) {
    // A node is its key. A new key is accepted only from a node showing its current certificate, or after an
    // operator's `nodes replace`; a node from before keys were recorded is taken at its word once.
    const bool same_key = node.key_pin == req.key_pin || node.key_pin.empty();
    const bool shows_certificate = req.presented_node == node.name && !req.presented_serial.empty() &&
                                   req.presented_serial == node.certificate_serial;
    const bool replacement = node.replace_key_pin == "*" || node.replace_key_pin == req.key_pin;
    if (node.phase == "denied" && same_key) return returning_kind::denied;
    if (same_key) return returning_kind::same_key;
    return shows_certificate || replacement ? returning_kind::new_key : returning_kind::conflict;
}

conflict_note describe_conflict(const enrollment& req, const node_record& node) {
    std::optional<proto::hardware_facts> enrolled;
    try {
        enrolled = proto::hardware_facts::from_json(proto::parse_json(node.facts_json));
    } catch (const std::exception&) {
    }
    const std::string when = proto::to_rfc3339(proto::from_unix(req.now));
    if (enrolled && !proto::same_board(*enrolled, req.facts))
        return {token_verdict::cloned,
                "at " + when + " another board (" + board_summary(req.facts) + ", from " + req.address +
                    ") presented this node's machine-id: its card is a clone of this node's. It was told to make itself "
                    "a fresh machine-id and enroll as a new node",
                ""};
    return {token_verdict::identity_conflict,
            "at " + when + " a machine (" + board_summary(req.facts) + ", from " + req.address +
                ") enrolled with this node's machine-id but another key, and was refused. If " + node.name +
                " was re-flashed, accept it: graft-coordinator nodes replace " + node.name,
            req.key_pin};
}

}  // namespace graft::coordinator
