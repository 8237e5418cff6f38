#include "agent/system/facts.hpp"

#include "proto/files.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <stdexcept>

namespace graft::agent {
namespace {

// The first line of a file, without trailing NULs (device-tree strings end in one) and white space; empty if absent.
std::string first_line(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return {};
    std::string text;
    try {
        text = proto::read_file(path.string());
    } catch (const std::exception&) {
        return {};
    }
    text = text.substr(0, text.find('\n'));
    while (!text.empty() && (text.back() == '\0' || text.back() == ' ' || text.back() == '\r')) text.pop_back();
    return text.substr(0, 256);
}

std::string first_of(const std::filesystem::path& root, std::initializer_list<const char*> candidates) {
    for (const char* c : candidates)
        if (auto v = first_line(root / c); !v.empty()) return v;
    return {};
}

std::string os_pretty_name(const std::filesystem::path& root) {
    for (const char* file : {"etc/os-release", "usr/lib/os-release"}) {
        std::string text;
        try {
            text = proto::read_file((root / file).string());
        } catch (const std::exception&) {
            continue;
        }
        std::size_t at = 0;
        while (at < text.size()) {
            auto nl = text.find('\n', at);
            std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
            at = nl == std::string::npos ? text.size() : nl + 1;
            if (line.starts_with("PRETTY_NAME=")) {
                std::string v = line.substr(12);
                if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
                return v.substr(0, 256);
            }
        }
    }
    return {};
}

void interfaces(proto::hardware_facts& f) {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return;
    std::unique_ptr<ifaddrs, decltype(&::freeifaddrs)> owner(list, ::freeifaddrs);
    std::set<std::string> macs;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK)) continue;
        char buf[INET6_ADDRSTRLEN] = {};
        if (i->ifa_addr->sa_family == AF_INET) {
            ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
            f.addresses.push_back(buf);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, buf, sizeof buf);
            f.addresses.push_back(buf);
        } else if (i->ifa_addr->sa_family == AF_PACKET) {
            auto* ll = reinterpret_cast<sockaddr_ll*>(i->ifa_addr);
            if (ll->sll_halen != 6) continue;
            char mac[18];
            std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", ll->sll_addr[0], ll->sll_addr[1],
                          ll->sll_addr[2], ll->sll_addr[3], ll->sll_addr[4], ll->sll_addr[5]);
            if (std::string(mac) != "00:00:00:00:00:00") macs.insert(mac);
        }
    }
    f.macs.assign(macs.begin(), macs.end());
    if (f.addresses.size() > 64) f.addresses.resize(64);
    if (f.macs.size() > 64) f.macs.resize(64);
}

}  // namespace

proto::hardware_facts gather_facts(const std::string& root_dir) {
    const std::filesystem::path root(root_dir);
    proto::hardware_facts f;
    f.machine_id = first_line(root / "etc/machine-id");
    if (f.machine_id.size() != 32 ||
        !std::all_of(f.machine_id.begin(), f.machine_id.end(), [](char c) { return std::isxdigit(c) && !std::isupper(c); }))
        throw std::runtime_error((root / "etc/machine-id").string() +
                                 " is missing or not 32 lowercase hex digits; systemd writes it on first boot "
                                 "(systemd-machine-id-setup makes one by hand)");
    // Raspberry Pi and Jetson name themselves in the device tree; x86 boxes in DMI.
    f.serial = first_of(root, {"proc/device-tree/serial-number", "sys/firmware/devicetree/base/serial-number",
                               "sys/class/dmi/id/product_serial"});
    if (auto uuid = first_of(root, {"sys/class/dmi/id/product_uuid"}); !uuid.empty()) f.system_uuid = uuid;
    f.model = first_of(root, {"proc/device-tree/model", "sys/firmware/devicetree/base/model", "sys/class/dmi/id/product_name"});
    f.hostname = first_line(root / "etc/hostname");
    f.os = os_pretty_name(root);

    utsname u{};
    if (::uname(&u) == 0) {
        f.arch = u.machine;
        f.kernel = u.release;
    }
    if (f.hostname.empty()) {
        char name[256] = {};
        ::gethostname(name, sizeof name - 1);
        f.hostname = name;
    }
    std::error_code ec;
    f.cgroup_version = std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers", ec) ? 2 : 1;
    interfaces(f);
    return f;
}

}  // namespace graft::agent
