#pragma once
// The running system, behind a small interface: what the host-preparation steps ask of it (live_action) and the
// reboot. The real implementation talks to systemd's D-Bus services (org.freedesktop.hostname1, systemd1, login1)
// through a small D-Bus client of its own (dbus.hpp) and makes the few system calls itself; tests use a recording one, or the real one against their
// own dbus-daemon. Not thread-safe: one per agent.

#include "agent/steps/step.hpp"

#include <memory>
#include <string>
#include <vector>

namespace graft::agent {

class live_system {
public:
    virtual ~live_system() = default;
    virtual void set_static_hostname(const std::string& name) = 0;
    virtual void restart_unit(const std::string& unit) = 0;
    virtual void stop_unit(const std::string& unit) = 0;
    virtual void enable_and_start_unit(const std::string& unit) = 0;
    virtual void swapoff(const std::string& path) = 0;
    virtual void remove_zram(const std::string& index) = 0;
    virtual void run(const std::vector<std::string>& argv) = 0;
    virtual void reboot() = 0;
};

// Carries out one action; a failure throws, naming the action.
void perform(const live_action& action, live_system& system);

// The running system. `bus_address` empty: the system bus; otherwise that bus ("unix:path=..."), for tests.
std::unique_ptr<live_system> connect_live_system(const std::string& bus_address = {});

}  // namespace graft::agent
