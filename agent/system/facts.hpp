#pragma once
// The hardware and OS facts a node sends when it enrolls. Files are read under the root prefix; what only the
// running system knows (kernel, interfaces, cgroup version) comes from the live system.

#include "proto/messages.hpp"

#include <string>

namespace graft::agent {

// Throws when ROOT/etc/machine-id is missing or malformed: the coordinator keys a node by it.
proto::hardware_facts gather_facts(const std::string& root);

}  // namespace graft::agent
