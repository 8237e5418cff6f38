// graft as a systemd citizen: the unit files as systemd itself reads them, and the sd_notify conversation a
// Type=notify service with a watchdog has with the service manager, on a real notify socket.
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <regex>
#include <thread>

using namespace graft;

namespace {

const std::string units = std::string(GRAFT_SOURCE_DIR) + "/systemd";

// A copy of a unit whose ExecStart names the binary just built, as the package installs it to /usr/bin.
std::string unit_with_built_binary(const test::temp_dir& dir, const std::string& name, const std::string& program,
                                   const std::string& built) {
    std::string text = test::read(units + "/" + name);
    const std::string installed = "/usr/bin/" + program;
    for (std::size_t at; (at = text.find(installed)) != std::string::npos;) text.replace(at, installed.size(), built);
    test::write(dir / name, text);
    return dir / name;
}

// The service manager's end of NOTIFY_SOCKET: a datagram socket whose messages the test reads.
class notify_socket {
public:
    explicit notify_socket(const std::string& path) : path_(path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        timeval tv{0, 200'000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~notify_socket() { ::close(fd_); }
    // Every message received within `window`.
    std::vector<std::string> receive(std::chrono::milliseconds window) {
        std::vector<std::string> out;
        const auto end = std::chrono::steady_clock::now() + window;
        char buf[4096];
        while (std::chrono::steady_clock::now() < end) {
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) out.emplace_back(buf, static_cast<std::size_t>(n));
        }
        return out;
    }

private:
    std::string path_;
    int fd_ = -1;
};

}  // namespace

TEST_CASE("systemd-analyze verify accepts every unit") {
    test::temp_dir dir;
    auto agent = unit_with_built_binary(dir, "graft-agent.service", "graft-agent", GRAFT_AGENT_BIN);
    auto renew = unit_with_built_binary(dir, "graft-agent-renew.service", "graft-agent", GRAFT_AGENT_BIN);
    auto timer = unit_with_built_binary(dir, "graft-agent-renew.timer", "graft-agent", GRAFT_AGENT_BIN);
    auto coordinator = unit_with_built_binary(dir, "graft-coordinator.service", "graft-coordinator", GRAFT_COORDINATOR_BIN);
    auto r = test::run({"systemd-analyze", "verify", agent, renew, timer, coordinator});
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.empty());
}

TEST_CASE("the coordinator unit is sandboxed: systemd rates its exposure OK, and it may write only its state") {
    auto r = test::run({"systemd-analyze", "security", "--offline=true", units + "/graft-coordinator.service"});
    INFO(r.output);
    std::smatch m;
    REQUIRE(std::regex_search(r.output, m, std::regex(R"(Overall exposure level for graft-coordinator\.service: ([0-9.]+))")));
    CHECK(std::stod(m[1]) <= 2.5);
    const std::string unit = test::read(units + "/graft-coordinator.service");
    CHECK_THAT(unit, Catch::Contains("\nProtectSystem=strict\n") && Catch::Contains("\nReadWritePaths=/var/lib/graft-coordinator\n") &&
                         Catch::Contains("\nCapabilityBoundingSet=\n") && Catch::Contains("\nNoNewPrivileges=yes\n"));
}

TEST_CASE("serve tells systemd it is ready, says what it serves, and pings the watchdog at half its interval") {
    test::coordinator_process c;
    test::temp_dir dir;
    notify_socket manager(dir / "notify");
    c.add_env("NOTIFY_SOCKET", dir / "notify");
    c.add_env("WATCHDOG_USEC", "400000");
    c.start();
    auto messages = manager.receive(std::chrono::milliseconds(1500));
    std::string all;
    for (const auto& m : messages) all += m + "\n";
    INFO(all);
    CHECK_THAT(all, Catch::Contains("READY=1") && Catch::Contains("STATUS=Serving on 127.0.0.1:"));
    const auto pings = std::count(messages.begin(), messages.end(), std::string("WATCHDOG=1"));
    CHECK(pings >= 4);  // every 200 ms over 1.5 s, with room for a slow machine
    c.stop();
    std::string at_stop;
    for (const auto& m : manager.receive(std::chrono::milliseconds(300))) at_stop += m + "\n";
    CHECK_THAT(at_stop, Catch::Contains("STOPPING=1"));
}
