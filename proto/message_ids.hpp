#pragma once
// Every kind of event graft writes to the journal, with its fixed MESSAGE_ID (as `journalctl MESSAGE_ID=...` finds it).
// systemd/graft.catalog explains each one; a new kind gets a new ID here (`systemd-id128 new`) and an entry there.

namespace graft::proto::message_id {

inline constexpr const char* coordinator_started = "7a12d341138545d0b5e20467c3d86db2";
inline constexpr const char* node_enrolled = "84d4fceadd6f4cafa579995e017ca661";
inline constexpr const char* enrollment_refused = "67c026073c6243c284c5a569712d50b6";
inline constexpr const char* join_issued = "49bd479cbf7a41e8a0e25b31d0e0f78f";
inline constexpr const char* join_backend_failed = "af4b53f877f1405b8fe99be706e9c012";
inline constexpr const char* phase_changed = "50f0f3259c5742fd885124dca8df2910";
inline constexpr const char* join_failed = "421fb894cd014282a664872ed91b3782";
inline constexpr const char* coordinator_unreachable = "00f51f532eda498ea0ef2832d752567e";

inline constexpr const char* node_ready = "051301af7b914834acaf3698147c3f7c";
inline constexpr const char* join_credential_revoked = "33d3c1c6539f47d49712f00798c6d70e";
inline constexpr const char* kube_api_problem = "985e33f2b9214ad0835021c20a4873bb";
inline constexpr const char* version_skew = "f442df8f4a87412e9bdb979dd9f1a504";

inline constexpr const char* identity_conflict = "c2e0ff8c1fc640799776f1e43027eff3";
inline constexpr const char* cloned_card = "b89f319049274c868d12531aed693197";
inline constexpr const char* approval_needed = "3a71ca64049641ca95e629617c0c4182";
inline constexpr const char* certificate_renewed = "5b5d2ed4b411486584348b7b9f69c944";

inline constexpr const char* step_changed = "370ac3c58b634aa28ece5c21a36edc60";
inline constexpr const char* step_blocked = "be4e93f936ca49fc915d2b0de56b4ff6";

// Every ID above: the catalog test checks each one has an entry in systemd/graft.catalog.
inline constexpr const char* all[] = {coordinator_started, node_enrolled,  enrollment_refused,     join_issued,
                                      join_backend_failed, phase_changed,  join_failed,            coordinator_unreachable,
                                      step_changed,        step_blocked,   node_ready,             join_credential_revoked,
                                      kube_api_problem,    version_skew,   identity_conflict,      cloned_card,
                                      approval_needed,     certificate_renewed};

}  // namespace graft::proto::message_id
