#pragma once
// graft-coordinator's subcommands. main() only dispatches; everything else lives here so tests can reach it.

#include <string>
#include <vector>

namespace graft::coordinator {

// Runs the command line (without the program name); returns the process exit code.
int run_command_line(const std::vector<std::string>& args);

}  // namespace graft::coordinator
