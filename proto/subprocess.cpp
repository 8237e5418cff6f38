#include "proto/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

extern char** environ;

namespace graft::proto {
namespace {

void check_posix(int rc, const char* call) {
    if (rc != 0) throw std::system_error(rc, std::generic_category(), call);
}

struct fd_owner {
    int fd = -1;
    ~fd_owner() { if (fd >= 0) ::close(fd); }
};

}  // namespace

process_result run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           const std::function<void(std::string_view)>& on_line, std::size_t max_output, stderr_to errors) {
    if (argv.empty()) throw std::invalid_argument("run_process: empty argv");
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    fd_owner read_end{fds[0]}, write_end{fds[1]};

    posix_spawn_file_actions_t actions;
    check_posix(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init");
    posix_spawnattr_t attr;
    check_posix(posix_spawnattr_init(&attr), "posix_spawnattr_init");
    check_posix(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0), "posix_spawn_file_actions_addopen");
    check_posix(posix_spawn_file_actions_adddup2(&actions, write_end.fd, 1), "posix_spawn_file_actions_adddup2");
    if (errors == stderr_to::output)
        check_posix(posix_spawn_file_actions_adddup2(&actions, write_end.fd, 2), "posix_spawn_file_actions_adddup2");
    else
        check_posix(posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0), "posix_spawn_file_actions_addopen");
    // Its own process group, so a timeout kills whatever it started too.
    check_posix(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF),
                "posix_spawnattr_setflags");
    check_posix(posix_spawnattr_setpgroup(&attr, 0), "posix_spawnattr_setpgroup");
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);

    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "cannot start " + argv[0]);
    ::close(write_end.fd);
    write_end.fd = -1;

    process_result result;
    std::string pending;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto emit_lines = [&](bool flush) {
        std::size_t start = 0, nl;
        while ((nl = pending.find('\n', start)) != std::string::npos) {
            if (on_line) on_line(std::string_view(pending).substr(start, nl - start));
            start = nl + 1;
        }
        pending.erase(0, start);
        if (flush && !pending.empty()) {
            if (on_line) on_line(pending);
            pending.clear();
        }
    };
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            ::kill(-pid, SIGKILL);
            break;
        }
        pollfd p{read_end.fd, POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        char buf[4096];
        ssize_t got = ::read(read_end.fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;  // every writer closed: the program (and its children) are done writing
        std::string_view chunk(buf, static_cast<std::size_t>(got));
        if (result.output.size() < max_output) result.output.append(chunk.substr(0, max_output - result.output.size()));
        pending.append(chunk);
        emit_lines(false);
    }
    emit_lines(true);

    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
    return result;
}

}  // namespace graft::proto
