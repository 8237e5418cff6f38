#pragma once
// What the agent remembers across restarts and reboots, under ROOT/var/lib/graft:
//   node.key (0600)  the node's private key, made here and never sent anywhere
//   node.crt         its client certificate from the coordinator
//   ca.crt           the coordinator's CA, checked against the pin before it was saved
//   state.json       phase, node name, history
// Every file is written atomically (temp, fsync, rename, fsync dir), so a power cut leaves the old or the new one.

#include "proto/messages.hpp"

#include <optional>
#include <string>
#include <vector>

namespace graft::agent {

struct phase_event {
    std::string phase;
    std::string message;
    std::string at;  // RFC 3339
};

struct agent_state {
    proto::phase phase = proto::phase::booted;
    std::string node_name;
    std::string coordinator;
    std::string flavour = "kubeadm";  // what the coordinator's profile said this node joins with
    std::string last_error;
    std::vector<phase_event> history;
    // Set while the node reboots for a kernel command line change: the boot it was asked in, and the boot file changed.
    std::string reboot_boot_id;
    std::string reboot_boot_file;

    // Moves to `p` and appends it to the history.
    void enter(proto::phase p, std::string message = {});
};

class state_store {
public:
    // `root` is the node's filesystem root ("/" on a real node, a sandbox directory in tests and the demo).
    explicit state_store(const std::string& root);

    const std::string& dir() const { return dir_; }
    std::string path(const std::string& file) const { return dir_ + "/" + file; }
    // Creates the directory (0700) if needed.
    void prepare() const;

    // The saved state, or a fresh one when none was saved. A state.json that cannot be read is an error naming it.
    agent_state load() const;
    void save(const agent_state& state) const;

    bool has(const std::string& file) const;
    std::string read(const std::string& file) const;
    void write(const std::string& file, const std::string& content, unsigned mode) const;

private:
    std::string dir_;
};

}  // namespace graft::agent
