// The service manager's side of sd_notify(3), played by a datagram socket the test binds, and the watchdog
// variables as systemd sets them (systemd.exec(5), "Environment variables in spawned processes").
#include "proto/systemd.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>

using namespace graft;

namespace {

// A NOTIFY_SOCKET for the duration of a test: a path, or an abstract name when it starts with '@'.
class service_manager {
public:
    explicit service_manager(const std::string& name) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        name.copy(addr.sun_path, name.size());
        if (name.front() == '@') addr.sun_path[0] = '\0';
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) == 0);
        timeval tv{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
    }
    ~service_manager() {
        ::unsetenv("NOTIFY_SOCKET");
        ::close(fd_);
    }
    std::string receive() {
        char buf[4096];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }

private:
    int fd_ = -1;
};

}  // namespace

TEST_CASE("a notification reaches the service manager's socket, by path or abstract name") {
    test::temp_dir dir;
    {
        service_manager manager(dir / "notify");
        CHECK(proto::notify("READY=1\nSTATUS=Serving"));
        CHECK(manager.receive() == "READY=1\nSTATUS=Serving");
    }
    {
        service_manager manager("@graft-test-notify-" + std::to_string(::getpid()));
        CHECK(proto::notify("STOPPING=1"));
        CHECK(manager.receive() == "STOPPING=1");
    }
}

TEST_CASE("without NOTIFY_SOCKET a notification goes nowhere and says so") {
    ::unsetenv("NOTIFY_SOCKET");
    CHECK_FALSE(proto::notify("READY=1"));
}

TEST_CASE("the watchdog interval is the one systemd set for this process") {
    ::setenv("WATCHDOG_USEC", "30000000", 1);
    ::unsetenv("WATCHDOG_PID");
    CHECK(proto::watchdog_interval() == std::chrono::seconds(30));
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    CHECK(proto::watchdog_interval() == std::chrono::seconds(30));
    ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);  // meant for another process
    CHECK_FALSE(proto::watchdog_interval());
    ::unsetenv("WATCHDOG_PID");
    ::setenv("WATCHDOG_USEC", "soon", 1);
    CHECK_FALSE(proto::watchdog_interval());
    ::unsetenv("WATCHDOG_USEC");
    CHECK_FALSE(proto::watchdog_interval());
}

TEST_CASE("a journal entry is serialised as the native protocol describes") {
    const std::string entry = proto::journal_entry({"MESSAGE=two\nlines", "GRAFT_NODE=node-1", "not a field"});
    const std::string expected = std::string("MESSAGE\n") + std::string("\x09\0\0\0\0\0\0\0", 8) + "two\nlines\n" +
                                 "GRAFT_NODE=node-1\n";
    CHECK(entry == expected);
}
