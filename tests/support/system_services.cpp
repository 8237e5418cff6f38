// graft-test-system-services ADDRESS RECORD_FILE: a test double of the systemd D-Bus services the agent calls, for a
// private dbus-daemon. It owns org.freedesktop.hostname1, org.freedesktop.systemd1 and org.freedesktop.login1 and
// implements the methods graft uses with the signatures systemd documents (org.freedesktop.hostname1(5),
// org.freedesktop.systemd1(5), org.freedesktop.login1(5)):
//   hostname1  SetStaticHostname(s hostname, b interactive)
//   systemd1.Manager  RestartUnit(s name, s mode) -> o job; StopUnit, StartUnit likewise;
//                     EnableUnitFiles(as files, b runtime, b force) -> (b carries_install_info, a(sss) changes)
//   login1.Manager  Reboot(b interactive)
// Each call is appended to RECORD_FILE as one line: the method and its arguments as received. A unit named
// "missing.service" gets the error systemd sends for a unit it does not know. The file's first line, "ready", is
// written once all three names are owned.
#include <sdbus-c++/sdbus-c++.h>

#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: graft-test-system-services ADDRESS RECORD_FILE\n";
        return 2;
    }
    const std::string record_path = argv[2];
    auto record = [&](const std::string& line) {
        std::ofstream out(record_path, std::ios::app);
        out << line << "\n";
    };
    auto bool_text = [](bool b) { return std::string(b ? "true" : "false"); };
    auto check_unit = [](const std::string& unit) {
        if (unit == "missing.service")
            throw sdbus::Error("org.freedesktop.systemd1.NoSuchUnit", "Unit " + unit + " not found.");
    };

    auto bus = sdbus::createSessionBusConnectionWithAddress(argv[1]);

    auto hostname1 = sdbus::createObject(*bus, "/org/freedesktop/hostname1");
    hostname1->registerMethod("SetStaticHostname").onInterface("org.freedesktop.hostname1")
        .implementedAs([&](const std::string& name, bool interactive) {
            record("SetStaticHostname " + name + " " + bool_text(interactive));
        });
    hostname1->finishRegistration();

    const char* manager = "org.freedesktop.systemd1.Manager";
    auto systemd1 = sdbus::createObject(*bus, "/org/freedesktop/systemd1");
    for (std::string method : {"RestartUnit", "StopUnit", "StartUnit"})
        systemd1->registerMethod(method).onInterface(manager)
            .implementedAs([&, method](const std::string& unit, const std::string& mode) {
                check_unit(unit);
                record(method + " " + unit + " " + mode);
                return sdbus::ObjectPath("/org/freedesktop/systemd1/job/1");
            });
    systemd1->registerMethod("EnableUnitFiles").onInterface(manager)
        .implementedAs([&](const std::vector<std::string>& files, bool runtime, bool force) {
            std::string line = "EnableUnitFiles";
            for (const auto& f : files) {
                check_unit(f);
                line += " " + f;
            }
            record(line + " " + bool_text(runtime) + " " + bool_text(force));
            std::vector<sdbus::Struct<std::string, std::string, std::string>> changes{
                {"symlink", "/etc/systemd/system/multi-user.target.wants/" + files.at(0), "/lib/systemd/system/" + files.at(0)}};
            return std::make_tuple(true, changes);
        });
    systemd1->finishRegistration();

    auto login1 = sdbus::createObject(*bus, "/org/freedesktop/login1");
    login1->registerMethod("Reboot").onInterface("org.freedesktop.login1.Manager")
        .implementedAs([&](bool interactive) { record("Reboot " + bool_text(interactive)); });
    login1->finishRegistration();

    for (const char* name : {"org.freedesktop.hostname1", "org.freedesktop.systemd1", "org.freedesktop.login1"})
        bus->requestName(name);
    record("ready");
    bus->enterEventLoop();
}
