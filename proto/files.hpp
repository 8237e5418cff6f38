#pragma once
// File helpers for state directories: the agent's /var/lib/graft and the coordinator's own.

#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace graft::proto {

// The whole file; throws std::runtime_error naming the path and the reason.
std::string read_file(const std::string& path);
// Writes through a temporary file in the same directory: write, fsync, rename, fsync the directory.
// The file has `mode` from the start, so a secret is never readable by others, not even for a moment.
// The points an atomic write passes, in order. Tests stop a writer at each to show a crash leaves the old or the new file.
enum class write_point { temp_created, content_written, content_synced, renamed, directory_synced };
using write_observer = std::function<void(write_point)>;

void write_file_atomic(const std::string& path, std::string_view content, mode_t mode, const write_observer& at = {});

}  // namespace graft::proto
