#include "agent/commands.hpp"

#include "agent/prepare.hpp"
#include "agent/runner.hpp"
#include "proto/cli.hpp"
#include "proto/log.hpp"
#include "proto/version.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <iostream>

namespace graft::agent {
namespace {

constexpr const char* usage = R"(usage: graft-agent COMMAND [OPTIONS]

Turns this machine into a Kubernetes node: enrolls with the graft coordinator, prepares the host, joins the
cluster with kubeadm, k3s or k0s (as the coordinator says), and reports until the Node is Ready.

Commands:
  run [--config FILE] [options]
      Enroll (or resume), prepare the host, join, and report kubelet's health until the coordinator says the
      Node is Ready. Then stay, mostly idle: a heartbeat to the coordinator (its last-seen time) and the
      journal's last lines (kubelet, the runtime, graft-agent) when an operator asks. Without --config, graft.json is read from the boot partition
      (ROOT/boot/firmware, ROOT/boot or ROOT/media/mmcblk0p1). Its enrollment token is moved to
      ROOT/var/lib/graft/graft.json (0600) and removed from the boot partition's copy.
        --root DIR               the node's filesystem root; state goes to DIR/var/lib/graft (default: /)
        --kubeadm "ARGV"         the kubeadm program (default: kubeadm)
        --kubelet "ARGV"         the kubelet program, asked only for its version (default: kubelet)
        --k3s "ARGV"             the k3s program, asked only for its version (default: k3s)
        --k0s "ARGV"             the k0s program (default: k0s)
        --join-command "ARGV"    the same as --kubeadm, for older setups
        --join-timeout SECONDS   how long one join may take (default: 600)
        --kubelet-healthz URL    kubelet's health endpoint, or "none" (default: http://127.0.0.1:10248/healthz)
        --readiness-interval-ms N  how often a joined node reports until Ready (default: 10000)
        --max-join-attempts N    give up after N failed joins (default: keep trying)
        --retry-initial-ms N     first wait before retrying the coordinator (default: 1000)
        --retry-max-ms N         longest wait between retries (default: 60000)
        --heartbeat-interval-ms N  how often a Ready node's agent checks in (default: 30000)
        --exit-when-ready        exit 0 once the node is Ready instead of staying
        --journalctl "ARGV"      journalctl and the options that choose the journal (default: journalctl)
  plan [--root DIR] [--profile FILE]
      Print, as a diff, what host preparation would change (hostname, kernel command line for cgroups, kernel
      modules, sysctl, swap, container runtime, DNS, node IP, preflight), changing nothing. The profile is JSON:
      {"node_name": "...", "swap": "off", "coordinator": "https://HOST:PORT", "node_cidr": "192.168.1.0/24"}.
  prepare --root DIR --profile FILE
      Make those changes to the files under DIR (a mounted image or a copy of a node's filesystem). With --root /,
      also perform the actions on the running system (D-Bus calls to systemd, swapoff, module loads); elsewhere they
      are listed. It never reboots: `run` does that, once, when the kernel command line changed.
  renew [--root DIR] [--force] [--retry-max-ms N]
      Renew this node's certificate over its current one, with the same key, once it is past two thirds of
      its life (with jitter); --force renews now. `run` does this too; graft-agent-renew.timer runs it daily
      for nodes whose agent has finished. The old certificate works until the node first uses the new one.
  status [--root DIR] [--json]
      Print what this node has saved: its name, phase, certificate and history.
  help, --help
      Show this text.

FILE is the graft.json that `graft-coordinator boot-config` prints.
)";

}  // namespace

int run_command_line(const std::vector<std::string>& args) {
    proto::set_log_identity("graft-agent");
    ::umask(077);  // node.key and the join configuration hold secrets
    return proto::run_main("graft-agent", usage, args, [](const std::string& command, const std::vector<std::string>& rest) {
        if (command == "run") {
            proto::cli_args cli(rest, {"config", "root", "join-command", "kubeadm", "kubelet", "k3s", "k0s", "join-timeout",
                                       "kubelet-healthz", "readiness-interval-ms", "max-join-attempts", "retry-initial-ms",
                                       "retry-max-ms", "heartbeat-interval-ms", "journalctl"}, {"exit-when-ready"});
            run_options options;
            options.config_path = cli.value("config").value_or("");
            options.root = cli.value("root").value_or("/");
            auto program = [&](const char* flag, std::vector<std::string>& into) {
                if (auto v = cli.value(flag)) {
                    into = proto::split_words(*v);
                    if (into.empty()) throw proto::usage_error(std::string("--") + flag + " is empty");
                }
            };
            program("join-command", options.programs.kubeadm);
            program("kubeadm", options.programs.kubeadm);
            program("kubelet", options.programs.kubelet);
            program("k3s", options.programs.k3s);
            program("k0s", options.programs.k0s);
            program("journalctl", options.journalctl);
            options.heartbeat_interval = std::chrono::milliseconds(cli.number("heartbeat-interval-ms", 30000, 100, 3'600'000));
            options.exit_when_ready = cli.has("exit-when-ready");
            options.programs.timeout = std::chrono::seconds(cli.number("join-timeout", 600, 1, 24 * 3600));
            if (auto url = cli.value("kubelet-healthz")) {
                options.kubelet_healthz = *url == "none" ? "" : *url;
                if (!options.kubelet_healthz.empty() && !options.kubelet_healthz.starts_with("http://"))
                    throw proto::usage_error("--kubelet-healthz must be an http:// URL or none, got '" + *url + "'");
            }
            options.readiness_interval = std::chrono::milliseconds(cli.number("readiness-interval-ms", 10000, 10, 3'600'000));
            options.max_join_attempts = static_cast<unsigned>(cli.number("max-join-attempts", 0, 1, 1'000'000));
            options.backoff_initial = std::chrono::milliseconds(cli.number("retry-initial-ms", 1000, 1, 3'600'000));
            options.backoff_cap = std::chrono::milliseconds(cli.number("retry-max-ms", 60000, 1, 3'600'000));
            return run_agent(options);
        }
        if (command == "plan") {
            proto::cli_args cli(rest, {"root", "profile"}, {});
            return print_plan(cli.value("root").value_or("/"), cli.value("profile").value_or(""));
        }
        if (command == "prepare") {
            proto::cli_args cli(rest, {"root", "profile"}, {});
            return prepare(cli.required("root"), cli.required("profile"));
        }
        if (command == "renew") {
            proto::cli_args cli(rest, {"root", "retry-max-ms"}, {"force"});
            run_options options;
            options.root = cli.value("root").value_or("/");
            options.backoff_cap = std::chrono::milliseconds(cli.number("retry-max-ms", 60000, 1, 3'600'000));
            options.backoff_initial = std::min(options.backoff_initial, options.backoff_cap);
            return renew_certificate(options, cli.has("force"));
        }
        if (command == "status") {
            proto::cli_args cli(rest, {"root"}, {"json"});
            return print_status(cli.value("root").value_or("/"), cli.has("json"));
        }
        throw proto::usage_error("unknown command '" + command + "'");
    });
}

}  // namespace graft::agent
