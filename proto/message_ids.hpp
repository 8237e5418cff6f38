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

}  // namespace graft::proto::message_id
