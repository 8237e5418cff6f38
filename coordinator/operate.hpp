#pragma once
// The operator's commands: `operator add` makes an operator's credentials; `get`, `describe`, `logs` and `version`
// read the fleet with them from anywhere that reaches the coordinator, as kubectl reads a cluster.
//
// Who is asking is settled in this order: --credentials FILE; $GRAFT_CREDENTIALS; --config FILE (root on the
// coordinator, which can read the CA key, signs itself an operator certificate for ten minutes); the one file in
// ~/.config/graft/; /var/lib/graft-coordinator/config.json when it is readable.

#include <map>
#include <string>
#include <vector>

namespace graft::coordinator {

int operator_command(const std::vector<std::string>& args);
int get_command(const std::vector<std::string>& args);
int describe_command(const std::vector<std::string>& args);
int logs_command(const std::vector<std::string>& args);
int version_command(const std::vector<std::string>& args);
int dashboard_command(const std::vector<std::string>& args);

// Each operator command's own --help text.
const std::map<std::string, const char*>& operate_usages();

}  // namespace graft::coordinator
