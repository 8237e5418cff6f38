#pragma once
// A small synchronous D-Bus client: connect to a bus, authenticate as this process's uid (EXTERNAL), and make method
// calls whose arguments are strings, booleans and arrays of strings, reading back the first string or object path of
// the reply. That is all graft-agent asks of hostname1, systemd1 and login1, and writing it against the D-Bus
// specification (https://dbus.freedesktop.org/doc/dbus-specification.html, "Message Protocol" and "Authentication
// Protocol") keeps the agent one static binary instead of needing libsystemd and sdbus-c++ on the node; see
// docs/architecture.md. The tests check it against a real dbus-daemon and a service written with sdbus-c++, and the
// first-boot VM test against systemd itself.
//
// A connection is used from one thread at a time.

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace graft::agent::dbus {

// The peer answered with a D-Bus error: its name (org.freedesktop.systemd1.NoSuchUnit) and its message.
class error : public std::runtime_error {
public:
    error(std::string name, std::string message)
        : std::runtime_error(name + ": " + message), name_(std::move(name)), message_(std::move(message)) {}
    const std::string& name() const { return name_; }
    const std::string& message() const { return message_; }

private:
    std::string name_, message_;
};

// A method call's arguments, marshalled as they are appended (little-endian).
class arguments {
public:
    arguments& add(std::string_view s);                      // s
    arguments& add(const char* s) { return add(std::string_view(s)); }
    arguments& add(bool b);                                  // b
    arguments& add(const std::vector<std::string>& list);    // as
    const std::string& signature() const { return signature_; }
    const std::string& body() const { return body_; }

private:
    std::string signature_, body_;
};

// The reply to a method call: its signature and body as received.
struct reply {
    std::string signature;
    std::string body;
    bool big_endian = false;
    // The first argument when it is a string or an object path; throws otherwise.
    std::string first_string() const;
};

class connection {
public:
    // `address` as D-Bus writes it ("unix:path=/run/dbus/system_bus_socket", "unix:abstract=...", several joined
    // by ';'); empty: the system bus ($DBUS_SYSTEM_BUS_ADDRESS, else /run/dbus/system_bus_socket). Throws
    // std::runtime_error naming the address when no bus answers there or it refuses us.
    explicit connection(const std::string& address = {});
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Calls `member` and waits for its reply. A D-Bus error reply throws dbus::error; a broken connection or no reply
    // within `timeout` throws std::runtime_error.
    reply call(const std::string& destination, const std::string& path, const std::string& interface,
               const std::string& member, const arguments& args = {},
               std::chrono::milliseconds timeout = std::chrono::seconds(30));

    // The unique name the bus gave this connection (":1.42").
    const std::string& unique_name() const { return unique_name_; }

private:
    void authenticate(std::chrono::steady_clock::time_point deadline);
    void send_all(std::string_view data, std::chrono::steady_clock::time_point deadline);
    std::string receive(std::size_t size, std::chrono::steady_clock::time_point deadline);
    std::string address_;
    int fd_ = -1;
    std::uint32_t serial_ = 0;
    std::string unique_name_;
};

}  // namespace graft::agent::dbus
