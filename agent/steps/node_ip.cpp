// The node IP step. On a board with Wi-Fi and Ethernet, kubelet picks the address of the default route, which may
// not be the network the cluster lives on. graft picks the IPv4 address of the interface whose route reaches the
// coordinator (or the one in the profile's CIDR) and writes it as kubelet's --node-ip.
#include "agent/steps/kubelet_flags.hpp"
#include "agent/steps/step.hpp"

#include "proto/https_client.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

namespace graft::agent {
namespace {

struct address {
    std::string interface;
    in_addr ip{};
    std::string text() const {
        char buf[INET_ADDRSTRLEN];
        ::inet_ntop(AF_INET, &ip, buf, sizeof buf);
        return buf;
    }
};

std::vector<address> ipv4_addresses() {
    std::vector<address> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return out;
    std::unique_ptr<ifaddrs, decltype(&::freeifaddrs)> owner(list, ::freeifaddrs);
    for (ifaddrs* i = list; i; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET)
            out.push_back({i->ifa_name, reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr});
    return out;
}

// "192.168.1.0/24" -> network and mask, in host byte order; nullopt when malformed.
std::optional<std::pair<std::uint32_t, std::uint32_t>> parse_cidr(const std::string& cidr) {
    auto slash = cidr.find('/');
    if (slash == std::string::npos) return std::nullopt;
    in_addr net{};
    if (::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &net) != 1) return std::nullopt;
    int bits = -1;
    try {
        std::size_t used = 0;
        bits = std::stoi(cidr.substr(slash + 1), &used);
        if (used != cidr.size() - slash - 1) return std::nullopt;
    } catch (const std::exception&) {
        return std::nullopt;
    }
    if (bits < 0 || bits > 32) return std::nullopt;
    std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
    return std::pair{ntohl(net.s_addr) & mask, mask};
}

// The local address the kernel would use to reach `host_name`: connecting a UDP socket sends nothing, it only routes.
// When the name does not resolve, `why` says so: graft-agent is static, so glibc resolves only through /etc/hosts and
// DNS, never through NSS modules such as nss-mdns (docs/architecture.md).
std::optional<in_addr> route_source(const std::string& host_name, const std::string& port, std::string& why) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (const int error = ::getaddrinfo(host_name.c_str(), port.c_str(), &hints, &found); error != 0) {
        why = "cannot resolve the coordinator's name " + host_name + " (" + ::gai_strerror(error) +
              "): graft-agent looks names up in /etc/hosts and DNS (/etc/resolv.conf) only, not through mDNS (.local "
              "names) or other NSS modules; put an IP address or a DNS name in graft.json, or the name in /etc/hosts";
        return std::nullopt;
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, ::freeaddrinfo);
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    sockaddr_in local{};
    socklen_t len = sizeof local;
    bool ok = ::connect(fd, found->ai_addr, found->ai_addrlen) == 0 &&
              ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0;
    ::close(fd);
    if (!ok) return std::nullopt;
    return local.sin_addr;
}

class node_ip_step final : public step {
public:
    std::string_view name() const override { return "node-ip"; }

    step_plan probe(const host& h, const host_profile& profile) const override {
        step_plan plan(name());
        const auto addresses = ipv4_addresses();
        std::optional<address> chosen;
        if (!profile.node_cidr.empty()) {
            auto cidr = parse_cidr(profile.node_cidr);
            if (!cidr) {
                plan.blocker = "node_cidr '" + profile.node_cidr + "' is not an IPv4 CIDR such as 192.168.1.0/24";
                return plan;
            }
            for (const auto& a : addresses)
                if (!chosen && (ntohl(a.ip.s_addr) & cidr->second) == cidr->first) chosen = a;
            if (!chosen) {
                std::string all;
                for (const auto& a : addresses) all += (all.empty() ? "" : ", ") + a.text() + " (" + a.interface + ")";
                plan.blocker = "no IPv4 address of this node is in " + profile.node_cidr + " (it has " + all + ")";
                return plan;
            }
            plan.notes.push_back("node IP " + chosen->text() + " on " + chosen->interface + ", in " + profile.node_cidr);
        } else if (!profile.coordinator.empty()) {
            auto endpoint = proto::parse_https_url(profile.coordinator);
            std::string unresolved;
            auto source = route_source(endpoint.host, endpoint.port, unresolved);
            for (const auto& a : addresses)
                if (!chosen && source && a.ip.s_addr == source->s_addr) chosen = a;
            if (!chosen) {
                plan.blocker = !unresolved.empty() ? unresolved
                                                   : "no route from this node reaches the coordinator at " + endpoint.host +
                                                         "; set node_cidr in the profile to choose the node's address";
                return plan;
            }
            plan.notes.push_back("node IP " + chosen->text() + " on " + chosen->interface + ", the route to the coordinator");
        } else {
            plan.notes.push_back("no coordinator or node_cidr to choose by; kubelet keeps its own choice");
            return plan;
        }
        const std::string file = kubelet_flags_file(h);
        const auto before = h.read(file);
        if (kubelet_flag(before.value_or(""), "node-ip") != chosen->text())
            plan.edits.push_back(file_edit::write(file, before, with_kubelet_flag(before.value_or(""), "node-ip", chosen->text())));
        return plan;
    }
};

}  // namespace

const step& node_ip_step_instance() {
    static const node_ip_step s;
    return s;
}

}  // namespace graft::agent
