#include "agent/system/live_system.hpp"

#include "agent/system/dbus.hpp"

#include "proto/subprocess.hpp"

#include <sys/swap.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace graft::agent {
namespace {

constexpr const char* systemd_service = "org.freedesktop.systemd1";
constexpr const char* systemd_path = "/org/freedesktop/systemd1";
constexpr const char* systemd_manager = "org.freedesktop.systemd1.Manager";

// Every D-Bus call goes through here: a D-Bus error becomes an exception naming the method, its arguments and
// the error the service sent.
template <class Call>
void checked(const std::string& what, Call&& call) {
    try {
        call();
    } catch (const dbus::error& e) {
        throw std::runtime_error("D-Bus call " + what + " failed: " + e.name() + ": " + e.message());
    }
}

class dbus_live_system final : public live_system {
public:
    explicit dbus_live_system(const std::string& address) : bus_(address) {}

    void set_static_hostname(const std::string& name) override {
        checked("org.freedesktop.hostname1.SetStaticHostname(" + name + ")", [&] {
            bus_.call("org.freedesktop.hostname1", "/org/freedesktop/hostname1", "org.freedesktop.hostname1",
                      "SetStaticHostname", dbus::arguments().add(name).add(false));
        });
    }

    void restart_unit(const std::string& unit) override { unit_job("RestartUnit", unit); }
    void stop_unit(const std::string& unit) override { unit_job("StopUnit", unit); }

    void enable_and_start_unit(const std::string& unit) override {
        checked(std::string(systemd_manager) + ".EnableUnitFiles(" + unit + ")", [&] {
            // The answer (whether the unit has install info, and the symlinks made) is not needed.
            bus_.call(systemd_service, systemd_path, systemd_manager, "EnableUnitFiles",
                      dbus::arguments().add(std::vector<std::string>{unit}).add(false).add(true));
        });
        unit_job("StartUnit", unit);
    }

    void swapoff(const std::string& path) override {
        if (::swapoff(path.c_str()) != 0 && errno != EINVAL)  // EINVAL: not an active swap any more
            throw std::runtime_error("swapoff " + path + " failed: " + std::strerror(errno));
    }

    void remove_zram(const std::string& index) override {
        std::ofstream control("/sys/class/zram-control/hot_remove");
        control << index;
        control.flush();
        if (!control) throw std::runtime_error("removing /dev/zram" + index + " through /sys/class/zram-control/hot_remove failed");
    }

    void run(const std::vector<std::string>& argv) override {
        auto result = proto::run_process(argv, std::chrono::minutes(5));
        if (result.exit_code != 0)
            throw std::runtime_error(argv.at(0) + " exited with status " + std::to_string(result.exit_code) + ": " +
                                     result.output.substr(0, 500));
    }

    void reboot() override {
        checked("org.freedesktop.login1.Manager.Reboot", [&] {
            bus_.call("org.freedesktop.login1", "/org/freedesktop/login1", "org.freedesktop.login1.Manager", "Reboot",
                      dbus::arguments().add(false));
        });
    }

private:
    // systemd answers with a job path at once and runs the job afterwards; the steps check the job's effect right
    // after (a sysctl value that needs the module systemd-modules-load loads), so this waits until the job object
    // is gone, which is when systemd has finished it. A unit that takes longer than a minute is left to finish.
    void unit_job(const std::string& method, const std::string& unit) {
        std::string job;
        checked(std::string(systemd_manager) + "." + method + "(" + unit + ")", [&] {
            job = bus_.call(systemd_service, systemd_path, systemd_manager, method, dbus::arguments().add(unit).add("replace"))
                      .first_string();
        });
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
        while (std::chrono::steady_clock::now() < deadline) {
            try {
                bus_.call(systemd_service, job, "org.freedesktop.DBus.Properties", "Get",
                          dbus::arguments().add("org.freedesktop.systemd1.Job").add("State"));
            } catch (const dbus::error&) {
                return;  // no such object: the job is done
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    dbus::connection bus_;
};

}  // namespace

void perform(const live_action& action, live_system& system) {
    using kind = live_action::kind;
    const auto& a = action.args;
    switch (action.what) {
    case kind::set_hostname: return system.set_static_hostname(a.at(0));
    case kind::restart_unit: return system.restart_unit(a.at(0));
    case kind::stop_unit: return system.stop_unit(a.at(0));
    case kind::enable_and_start_unit: return system.enable_and_start_unit(a.at(0));
    case kind::swapoff: return system.swapoff(a.at(0));
    case kind::remove_zram: return system.remove_zram(a.at(0));
    case kind::run: return system.run(a);
    }
}

std::unique_ptr<live_system> connect_live_system(const std::string& bus_address) {
    return std::make_unique<dbus_live_system>(bus_address);
}

}  // namespace graft::agent
