#include "proto/systemd.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace graft::proto {
namespace {

// A datagram socket's address for `path`; a leading '@' names an abstract socket, as in $NOTIFY_SOCKET.
std::optional<std::pair<sockaddr_un, socklen_t>> unix_address(std::string_view path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) return std::nullopt;
    path.copy(addr.sun_path, path.size());
    if (path.front() == '@') addr.sun_path[0] = '\0';
    else if (path.front() != '/') return std::nullopt;
    return std::pair{addr, static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size())};
}

class datagram_socket {
public:
    datagram_socket() : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
    ~datagram_socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    datagram_socket(const datagram_socket&) = delete;
    datagram_socket& operator=(const datagram_socket&) = delete;
    int fd() const { return fd_; }

private:
    int fd_;
};

bool send_to(int fd, const std::pair<sockaddr_un, socklen_t>& to, msghdr& msg) {
    msg.msg_name = const_cast<sockaddr_un*>(&to.first);
    msg.msg_namelen = to.second;
    for (;;) {
        if (::sendmsg(fd, &msg, MSG_NOSIGNAL) >= 0) return true;
        if (errno != EINTR) return false;
    }
}

// An entry too large for one datagram goes in a sealed memfd whose descriptor is passed instead (the journal reads
// it and checks the seals, so the sender can no longer change it).
bool send_in_memfd(int fd, const std::pair<sockaddr_un, socklen_t>& to, const std::string& entry) {
    const int mem = ::memfd_create("graft-journal-entry", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mem < 0) return false;
    bool ok = true;
    for (std::size_t done = 0; ok && done < entry.size();) {
        const ssize_t n = ::write(mem, entry.data() + done, entry.size() - done);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) done += static_cast<std::size_t>(n);
    }
    ok = ok && ::fcntl(mem, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0;
    if (ok) {
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &mem, sizeof(int));
        ok = send_to(fd, to, msg);
    }
    ::close(mem);
    return ok;
}

}  // namespace

bool notify(std::string_view state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path) return false;
    const auto to = unix_address(path);
    if (!to) return false;
    datagram_socket s;
    if (s.fd() < 0) return false;
    iovec iov{const_cast<char*>(state.data()), state.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    return send_to(s.fd(), *to, msg);
}

std::optional<std::chrono::microseconds> watchdog_interval() {
    const char* usec = std::getenv("WATCHDOG_USEC");
    if (!usec) return std::nullopt;
    if (const char* pid = std::getenv("WATCHDOG_PID"); pid && std::strtoll(pid, nullptr, 10) != ::getpid()) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(usec, &end, 10);
    if (errno != 0 || end == usec || *end != '\0' || value == 0) return std::nullopt;
    return std::chrono::microseconds(value);
}

std::string journal_entry(const std::vector<std::string>& fields) {
    std::string out;
    for (const auto& field : fields) {
        const auto eq = field.find('=');
        if (eq == std::string::npos) continue;
        const std::string_view name(field.data(), eq), value(field.data() + eq + 1, field.size() - eq - 1);
        if (value.find('\n') == std::string_view::npos) {
            out += field;
            out += '\n';
            continue;
        }
        out += name;
        out += '\n';
        std::uint64_t size = value.size();
        for (int i = 0; i < 8; ++i) out += static_cast<char>((size >> (8 * i)) & 0xff);
        out += value;
        out += '\n';
    }
    return out;
}

bool journal_send(const std::vector<std::string>& fields, const std::string& socket_path) {
    const auto to = unix_address(socket_path);
    if (!to) return false;
    datagram_socket s;
    if (s.fd() < 0) return false;
    const std::string entry = journal_entry(fields);
    iovec iov{const_cast<char*>(entry.data()), entry.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (send_to(s.fd(), *to, msg)) return true;
    if (errno != EMSGSIZE && errno != ENOBUFS) return false;
    return send_in_memfd(s.fd(), *to, entry);
}

}  // namespace graft::proto
