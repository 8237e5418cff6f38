#pragma once

#include <string>

namespace graft::agent {

// `graft-agent plan`: prints what each step would change under `root`, changing nothing. Exit 0, or 1 when a step
// is blocked. `profile_path` may be empty: then the node name comes from the agent's saved state, if any.
int print_plan(const std::string& root, const std::string& profile_path);

// `graft-agent prepare`: applies the file edits under `root`; on the running system (root "/") it performs the live
// actions too, elsewhere it lists them. It never reboots. Exit 0, or 1 when a step is blocked (the others still apply).
int prepare(const std::string& root, const std::string& profile_path);

}  // namespace graft::agent
