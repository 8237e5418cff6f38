#pragma once

#include <string>
#include <vector>

namespace graft::agent {

// graft-agent's command line (without the program name); returns the exit code.
int run_command_line(const std::vector<std::string>& args);

}  // namespace graft::agent
