#pragma once
// What the agent sends of the node's journal: the last lines of the units that say why a node is stuck, read with
// journalctl (which reads the journal through sd-journal: the agent is linked statically, and Debian ships no static
// libsystemd), tokens redacted, bounded in lines and bytes so an upload always fits a request.
//
// Without systemd (an OpenRC system such as Alpine) there is no journal: an excerpt then holds the last lines of
// /var/log/UNIT.log when the service writes one there (OpenRC's supervise-daemon and k3s's init script do), or says
// what exists instead.

#include "proto/messages.hpp"

#include <string>
#include <vector>

namespace graft::agent {

struct journal_reader {
    // journalctl and the arguments that choose the journal (a test reads a private journald's with -D DIR).
    std::vector<std::string> journalctl{"journalctl"};
    std::string root = "/";  // where /var/log is looked for without a journal
};

// The units worth reading for a node of `flavour` ("kubeadm", "k3s", "k0s"): its kubelet or agent, the container
// runtime, and graft-agent itself.
std::vector<std::string> relevant_units(const std::string& flavour);

// The last `lines` lines (at most max_journal_lines) of `unit`'s journal, each cut to max_journal_line bytes, the
// oldest dropped until the excerpt is under `max_bytes`. Never throws: a journal that cannot be read is an excerpt
// that says so.
proto::journal_excerpt read_journal(const journal_reader& reader, const std::string& unit, std::size_t lines,
                                    const std::string& cause, std::size_t max_bytes = 12 * 1024);

}  // namespace graft::agent
