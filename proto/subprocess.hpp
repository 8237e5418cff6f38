#pragma once
// Runs a program without a shell: argv as given, stdin from /dev/null, stdout and stderr merged into one pipe,
// a deadline after which its whole process group is killed. Secrets go to programs in files or the environment,
// never in argv, since argv is readable by every user of the machine.

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace graft::proto {

struct process_result {
    int exit_code = -1;     // the exit status, or 128 + signal when it was killed
    bool timed_out = false;
    std::string output;     // the first max_output bytes of stdout and stderr together (stdout alone: see below)
};

enum class stderr_to { output, null };

// Throws std::system_error when the program cannot be started (not found, not executable).
// `on_line` sees each line of output as it arrives, without the newline. stderr_to::null keeps a program's log
// lines out of output that is data (a config file it prints).
process_result run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           const std::function<void(std::string_view)>& on_line = {},
                           std::size_t max_output = 1024 * 1024, stderr_to errors = stderr_to::output);

}  // namespace graft::proto
