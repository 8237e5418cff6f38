#include "support/journald.hpp"

#include "proto/systemd.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>

namespace graft::test {

private_journald::~private_journald() {
    daemon.reset();
    std::error_code ec;
    for (const auto& cgroup : cgroups_) std::filesystem::remove(cgroup, ec);
}

bool private_journald::start() {
    if (::geteuid() != 0 || !std::filesystem::exists("/lib/systemd/systemd-journald") ||
        !std::filesystem::exists("/etc/machine-id")) {
        WARN("a private systemd-journald needs root, /lib/systemd/systemd-journald and /etc/machine-id: not checked here");
        return false;
    }
    std::filesystem::create_directories(dir / "run");
    std::filesystem::create_directories(dir / "log/journal");
    std::filesystem::create_directories(dir / "volatile");
    // As after systemd-journal-flush.service: journald writes to /var/log/journal from the start.
    test::write(dir / "run/flushed", "");
    daemon = std::make_unique<test::child>(
        std::vector<std::string>{"/usr/bin/unshare", "-m", "--propagation", "private", "sh", "-c",
                                 "mkdir -p /run/systemd/journal /run/log && mount --bind \"$1\" /run/systemd/journal && "
                                 "mount --bind \"$2\" /var/log && mount --bind \"$3\" /run/log && "
                                 "exec /lib/systemd/systemd-journald",
                                 "sh", dir / "run", dir / "log", dir / "volatile"},
        dir / "journald.log");
    for (int i = 0; i < 250 && !std::filesystem::exists(socket); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(std::filesystem::exists(socket));
    return true;
}

std::vector<proto::json> private_journald::entries(const std::string& tag, std::size_t want) {
    std::vector<proto::json> out;
    for (int i = 0; i < 250; ++i) {
        out.clear();
        auto r = test::run({"journalctl", "-D", dir / "log/journal", "-o", "json", "--all", "--no-pager", "GRAFT_TEST=" + tag});
        std::size_t start = 0;
        for (std::size_t nl; (nl = r.output.find('\n', start)) != std::string::npos; start = nl + 1)
            if (nl > start && r.output[start] == '{') out.push_back(proto::parse_json(r.output.substr(start, nl - start)));
        if (out.size() >= want) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return out;
}

bool private_journald::log_as_unit(const std::string& unit, const std::vector<std::string>& lines) {
    const std::size_t want = lines.size();
    // Where the unit's cgroup goes: the unified hierarchy, and on a hybrid layout also systemd's named one, which is
    // what journald reads there.
    std::vector<std::string> parents;
    if (std::filesystem::exists("/sys/fs/cgroup/cgroup.procs")) parents.push_back("/sys/fs/cgroup");
    for (const char* p : {"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"})
        if (std::filesystem::exists(std::string(p) + "/cgroup.procs")) parents.push_back(p);
    for (const auto& parent : parents) {
        const std::string cgroup = parent + "/" + unit;
        std::error_code ec;
        std::filesystem::create_directory(cgroup, ec);
        if (ec) return false;
        cgroups_.push_back(cgroup);
    }
    if (parents.empty()) return false;
    // A child of this process joins the cgroups and sends the lines as journald's native protocol; it stays until
    // they are stored, because journald reads the sender's cgroup from /proc/PID when it takes each entry.
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
        const std::string self = std::to_string(::getpid());
        for (const auto& cgroup : cgroups_) {
            const int fd = ::open((cgroup + "/cgroup.procs").c_str(), O_WRONLY);
            if (fd < 0 || ::write(fd, self.data(), self.size()) < 0) ::_exit(1);
            ::close(fd);
        }
        const std::string identifier = unit.substr(0, unit.find('.'));
        for (const auto& line : lines)
            if (!proto::journal_send({"MESSAGE=" + line, "SYSLOG_IDENTIFIER=" + identifier, "PRIORITY=6"}, socket)) ::_exit(1);
        ::pause();
        ::_exit(0);
    }
    auto stored = [&] {
        auto r = run({"journalctl", "-D", dir / "log/journal", "--no-pager", "-q", "-o", "cat", "-u", unit});
        return static_cast<std::size_t>(std::count(r.output.begin(), r.output.end(), '\n')) >= want;
    };
    const bool ok = eventually(stored, std::chrono::seconds(10));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return ok;
}

}  // namespace graft::test
