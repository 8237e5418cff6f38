#include "agent/journal.hpp"

#include "proto/log.hpp"
#include "proto/subprocess.hpp"
#include "proto/time.hpp"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>

namespace graft::agent {

std::vector<std::string> relevant_units(const std::string& flavour) {
    if (flavour == "k3s") return {"k3s-agent", "graft-agent"};  // k3s runs its own containerd inside k3s-agent
    if (flavour == "k0s") return {"k0sworker", "graft-agent"};
    return {"kubelet", "containerd", "docker", "graft-agent"};
}

namespace {

std::string unit_name(const std::string& unit) {
    return unit.find('.') == std::string::npos ? unit + ".service" : unit;
}

// The lines kept: each cut to the line bound, then the oldest dropped to fit the byte bound.
void bound(proto::journal_excerpt& e, std::deque<std::string> lines, std::size_t max_bytes) {
    std::size_t total = 0;
    for (auto& line : lines) {
        line = proto::redact_tokens(line);
        line = proto::shortened(line, proto::max_journal_line);
        total += line.size() + 8;  // a JSON string's quotes, comma and a few escapes
    }
    while (!lines.empty() && total > max_bytes) {
        total -= lines.front().size() + 8;
        lines.pop_front();
        e.truncated = true;
    }
    e.lines.assign(lines.begin(), lines.end());
}

}  // namespace

proto::journal_excerpt read_journal(const journal_reader& reader, const std::string& unit, std::size_t lines,
                                    const std::string& cause, std::size_t max_bytes) {
    proto::journal_excerpt e;
    e.unit = unit_name(unit);
    e.cause = cause;
    e.captured_at = proto::to_rfc3339(proto::clock::now());
    lines = std::clamp<std::size_t>(lines, 1, proto::max_journal_lines);
    std::deque<std::string> read;

    std::vector<std::string> argv = reader.journalctl;
    // One more line than asked tells whether there were more; -q leaves out "-- No entries --" and boot markers.
    for (const char* a : {"--no-pager", "-q", "-o", "short-iso", "-n"}) argv.emplace_back(a);
    argv.push_back(std::to_string(lines + 1));
    argv.push_back("-u");
    argv.push_back(e.unit);
    try {
        auto r = proto::run_process(argv, std::chrono::seconds(20), {}, 4 * 1024 * 1024, proto::stderr_to::null);
        if (r.exit_code != 0 && r.output.empty()) {
            bound(e, {"(journalctl exited with status " + std::to_string(r.exit_code) + " and printed nothing)"}, max_bytes);
            return e;
        }
        std::size_t start = 0;
        for (auto nl = r.output.find('\n'); start < r.output.size(); nl = r.output.find('\n', start)) {
            read.push_back(r.output.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
            if (nl == std::string::npos) break;
            start = nl + 1;
        }
        if (read.size() > lines) {
            read.pop_front();
            e.truncated = true;
        }
        if (read.empty()) {
            e.empty = true;
            read.push_back("(no journal entries for " + e.unit + ")");
        }
        bound(e, std::move(read), max_bytes);
        return e;
    } catch (const std::system_error&) {
        // No journalctl: no systemd journal on this node.
    }
    const std::string base = unit.substr(0, unit.find('.'));
    const std::filesystem::path log = std::filesystem::path(reader.root) / "var/log" / (base + ".log");
    std::ifstream in(log);
    if (!in) {
        bound(e, {"(this node has no systemd journal, and no " + ("/var/log/" + base + ".log") +
                  "; without systemd, services log where their init scripts send them, often /var/log/messages)"},
              max_bytes);
        return e;
    }
    for (std::string line; std::getline(in, line);) {
        read.push_back(std::move(line));
        if (read.size() > lines) {
            read.pop_front();
            e.truncated = true;
        }
    }
    bound(e, std::move(read), max_bytes);
    return e;
}

}  // namespace graft::agent
