#pragma once
// The real systemd-journald for the tests: it runs in a private mount namespace (unshare -m) with its socket
// directory, /var/log and /run/log bound to the test's own directories, so the host's journal is not touched;
// journalctl reads what it stored with -D. A process moved into a cgroup named after a unit (kubelet.service) is
// that unit to journald, which sets _SYSTEMD_UNIT from the sender's cgroup as it does for systemd's services, so
// `journalctl -u kubelet` finds its lines.

#include "proto/json_fields.hpp"
#include "support/support.hpp"

#include <memory>
#include <string>
#include <vector>

namespace graft::test {

struct private_journald {
    test::temp_dir dir;
    std::unique_ptr<test::child> daemon;
    std::string socket = dir / "run/socket";

    ~private_journald();
    // False when this machine cannot run one (not root, or no journald): the test says so and checks nothing.
    bool start();
    // The stored entries that carry GRAFT_TEST=`tag`, as journalctl prints them in JSON.
    std::vector<proto::json> entries(const std::string& tag, std::size_t want);
    // journalctl's arguments that read this journal.
    std::vector<std::string> journalctl() const { return {"journalctl", "-D", dir / "log/journal"}; }
    // Sends `lines` to this journald from a process inside a cgroup named `unit` (kubelet.service), so they are that
    // unit's; waits until they are stored. False when this machine has no writable cgroup hierarchy to do it in.
    bool log_as_unit(const std::string& unit, const std::vector<std::string>& lines);

private:
    std::vector<std::string> cgroups_;
};

}  // namespace graft::test
