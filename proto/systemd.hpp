#pragma once
// The two small protocols a service speaks with systemd, written here rather than linked from libsystemd so that
// graft-agent is one self-contained binary (docs/architecture.md says why):
// - the notification socket (sd_notify(3)): READY=1, STATUS=..., STOPPING=1, WATCHDOG=1 as one datagram to
//   $NOTIFY_SOCKET;
// - the journal's native protocol (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/): one datagram of fields to
//   /run/systemd/journal/socket, or a sealed memfd passed over it when the entry is too large for a datagram.
// All functions are safe to call from any thread.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace graft::proto {

// Sends `state` (newline-separated assignments) to the service manager. False when there is no $NOTIFY_SOCKET
// (not run by systemd as Type=notify) or the datagram could not be sent; callers go on either way.
bool notify(std::string_view state);

// The watchdog interval the service manager asked for ($WATCHDOG_USEC, meant for this process when $WATCHDOG_PID
// is unset or ours), or nothing.
std::optional<std::chrono::microseconds> watchdog_interval();

// One journal entry in the native protocol's serialisation: `NAME=value\n` for a value without a newline, else
// `NAME\n`, the value's length as 64-bit little-endian, the value, `\n`. Each field is "NAME=value".
std::string journal_entry(const std::vector<std::string>& fields);

// Sends one entry to journald at `socket_path`. False when journald is not there or refused it.
bool journal_send(const std::vector<std::string>& fields, const std::string& socket_path = "/run/systemd/journal/socket");

}  // namespace graft::proto
