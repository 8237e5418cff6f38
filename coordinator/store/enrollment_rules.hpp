#pragma once
// The decisions an enrollment comes to, whichever store keeps the registry: whether a token admits a machine, what a
// returning machine with another key is, and what the operator is told about it. Each registry implementation reads
// and writes its own way and asks these the same questions, so SQLite and etcd decide alike.

#include "coordinator/store/registry.hpp"

namespace graft::coordinator {

// What a token with the right secret says of this enrollment: accepted, or why not (revoked, expired, used up, or
// a machine not on its allow-list).
token_verdict token_admits(const stored_token& token, const enrollment& request);

// Whether the repeated enrollment's certificate still holds at `now` (an unreadable one does not).
bool certificate_still_valid(const std::string& certificate_pem, std::int64_t now);

// How a machine-id the registry knows as `node` is treated when it enrolls again.
enum class returning_kind {
    same_key,  // its own key (or a node from before keys were recorded)
    new_key,   // another key, shown to be the node's by its current certificate or allowed by `nodes replace`
    denied,    // an operator denied it
    conflict,  // another key, with nothing to vouch for it
};
returning_kind returning_machine(const enrollment& request, const node_record& node);

// For a conflicting enrollment: cloned (the facts describe another board) or identity_conflict, the note for the
// operator, and the key `nodes replace` would accept ("" for a clone, which is never accepted as the node).
struct conflict_note {
    token_verdict verdict;
    std::string text;
    std::string key_pin;
};
conflict_note describe_conflict(const enrollment& request, const node_record& node);

}  // namespace graft::coordinator
