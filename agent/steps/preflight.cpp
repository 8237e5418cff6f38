// The preflight step: what Kubernetes needs of a node that no file edit can give it. It edits nothing; what it
// finds missing blocks the node with the kernel option or the fix named.
#include "agent/steps/step.hpp"
#include "agent/steps/text.hpp"

#include <sys/statvfs.h>
#include <sys/timex.h>
#include <sys/utsname.h>
#include <zlib.h>

#include <algorithm>
#include <memory>

namespace graft::agent {
namespace {

// The kernel's build configuration: /proc/config.gz (CONFIG_IKCONFIG_PROC, as on Raspberry Pi kernels), else
// /boot/config-RELEASE (Debian, Ubuntu). Empty when neither is readable.
std::string kernel_config(const host& h, std::string& source) {
    if (h.exists("/proc/config.gz")) {
        std::unique_ptr<gzFile_s, decltype(&::gzclose)> gz(::gzopen(h.path("/proc/config.gz").c_str(), "rb"), ::gzclose);
        std::string out;
        char buf[16384];
        int n = 0;
        while (gz && (n = ::gzread(gz.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
        if (gz && n == 0) {
            source = "/proc/config.gz";
            return out;
        }
    }
    auto release = text::trim(h.read("/proc/sys/kernel/osrelease").value_or(""));
    if (release.empty()) {
        utsname u{};
        if (h.root() == "/" && ::uname(&u) == 0) release = u.release;
    }
    if (!release.empty())
        if (auto text = h.read("/boot/config-" + release)) {
            source = "/boot/config-" + release;
            return *text;
        }
    return {};
}

void check_cfs_bandwidth(const host& h, step_plan& plan) {
    std::string source;
    const std::string config = kernel_config(h, source);
    if (config.find("# CONFIG_CFS_BANDWIDTH is not set") != std::string::npos) {
        plan.blocker = "the kernel was built without CONFIG_CFS_BANDWIDTH (" + source + "), so kubelet cannot enforce "
                       "CPU limits and refuses to start; install a kernel built with it (on a Raspberry Pi: a newer "
                       "Raspberry Pi OS kernel, or one rebuilt with CONFIG_CFS_BANDWIDTH=y)";
        return;
    }
    if (config.find("CONFIG_CFS_BANDWIDTH=y") != std::string::npos) {
        plan.notes.push_back("CFS bandwidth control: built in (" + source + ")");
        return;
    }
    // No configuration to read: look for the files the option creates.
    bool seen = h.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") || h.exists("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us");
    for (const auto& child : h.list("/sys/fs/cgroup"))
        seen |= h.exists("/sys/fs/cgroup/" + child + "/cpu.max");
    plan.notes.push_back(seen ? "CFS bandwidth control: present (cpu.max / cpu.cfs_quota_us exist)"
                              : "CFS bandwidth control: cannot tell (no kernel config, no cpu.max yet)");
}

// The kernel-cmdline step adds a missing memory controller and reboots; here it is only said, since until that
// reboot its absence is expected.
void check_memory_controller(const host& h, step_plan& plan) {
    auto controllers = h.read("/sys/fs/cgroup/cgroup.controllers");
    if (!controllers) return;
    const auto words = text::words(*controllers);
    if (std::find(words.begin(), words.end(), "memory") == words.end())
        plan.notes.push_back("memory controller: missing until the kernel command line change takes effect");
    else
        plan.notes.push_back("memory controller: present");
}

void check_architecture(const host& h, step_plan& plan) {
    utsname u{};
    if (h.root() != "/" || ::uname(&u) != 0) return;
    const std::string arch = u.machine;
    if (arch == "armv6l")
        plan.blocker = "this is an ARMv6 board (Raspberry Pi 1 or Zero); no Kubernetes distribution ships for it";
    else
        plan.notes.push_back("architecture: " + arch);
}

void check_disk(const host& h, step_plan& plan) {
    const std::string dir = h.exists("/var/lib") ? h.path("/var/lib") : h.root();
    struct statvfs fs {};
    if (::statvfs(dir.c_str(), &fs) != 0 || fs.f_blocks == 0) return;
    const double free_fraction = static_cast<double>(fs.f_bavail) / static_cast<double>(fs.f_blocks);
    const auto free_mib = static_cast<unsigned long long>(fs.f_bavail) * fs.f_frsize / (1024 * 1024);
    const std::string figure = std::to_string(free_mib) + " MiB (" + std::to_string(static_cast<int>(free_fraction * 100)) + "%)";
    // kubelet evicts pods below 10% free on the node filesystem (its default nodefs.available<10%).
    if (free_fraction < 0.10)
        plan.blocker = "only " + figure + " free under /var/lib; kubelet evicts pods below 10%. Free some space or use a "
                       "larger card";
    else
        plan.notes.push_back("free under /var/lib: " + figure);
}

void check_clock(const host& h, step_plan& plan) {
    if (h.root() != "/") return;  // the clock belongs to the running system
    timex t{};
    const int state = ::adjtimex(&t);
    if (state == TIME_ERROR || (t.status & STA_UNSYNC))
        plan.blocker = "the system clock is not synchronised (a Raspberry Pi has no battery-backed clock); TLS "
                       "certificates and join tokens need the right time. Wait for NTP (timedatectl shows "
                       "\"System clock synchronized: yes\")";
    else
        plan.notes.push_back("clock: synchronised");
}

class preflight_step final : public step {
public:
    std::string_view name() const override { return "preflight"; }

    step_plan probe(const host& h, const host_profile&) const override {
        step_plan plan(name());
        for (auto check : {check_architecture, check_memory_controller, check_cfs_bandwidth, check_disk, check_clock}) {
            check(h, plan);
            if (!plan.blocker.empty()) break;
        }
        return plan;
    }
};

}  // namespace

const step& preflight_step_instance() {
    static const preflight_step s;
    return s;
}

}  // namespace graft::agent
