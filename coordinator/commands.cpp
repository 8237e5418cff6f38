#include "coordinator/commands.hpp"

#include "coordinator/config.hpp"
#include "coordinator/operate.hpp"
#include "coordinator/enroll/authority.hpp"
#include "coordinator/enroll/tokens.hpp"
#include "coordinator/http/server.hpp"
#include "coordinator/http/session_tickets.hpp"
#include "coordinator/status/node_snapshot.hpp"
#include "coordinator/join/backend.hpp"
#include "coordinator/join/backend_table.hpp"
#include "coordinator/kube/client.hpp"
#include "coordinator/kube/cluster_health.hpp"
#include "coordinator/kube/kubeconfig.hpp"
#include "coordinator/kube/node_watch.hpp"
#include "coordinator/kube/readiness.hpp"
#include "coordinator/status/metrics.hpp"
#include "coordinator/status/table.hpp"
#include "coordinator/store/etcd.hpp"
#include "coordinator/store/etcd_presence.hpp"
#include "coordinator/store/leader_election.hpp"
#include "coordinator/store/migration.hpp"
#include "coordinator/store/registry.hpp"
#include "coordinator/store/shared_ca.hpp"
#include "proto/cli.hpp"
#include "proto/files.hpp"
#include "proto/https_client.hpp"
#include "proto/log.hpp"
#include "proto/message_ids.hpp"
#include "proto/pki.hpp"
#include "proto/systemd.hpp"
#include "proto/tls.hpp"
#include "proto/version.hpp"
#include "proto/watchdog.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <iostream>
#include <optional>
#include <thread>
#include <sys/resource.h>
#include <sys/stat.h>

namespace graft::coordinator {
namespace {

namespace net = boost::asio;

constexpr const char* usage = R"(usage: graft-coordinator COMMAND [OPTIONS]

Enrolls graft nodes, issues their certificates and join credentials, and tracks them until they are Ready.

Commands:
  init --dir DIR --advertise HOST:PORT [options]
      Create a coordinator in DIR: its CA, server certificate, config.json and node registry.
        --listen HOST:PORT        address to bind (default: the advertise address)
        --join-backend NAME       how nodes get their join credential:
                                    kubeadm      a bootstrap token per node through the API (default)
                                    k3s          the same, as a k3s secure token (or --k3s-node-token-file)
                                    k0s          `k0s token create --role=worker` per node
                                    kubeadm-cli  a program printing a `kubeadm join` line
                                    static       one token for every node, from --kube-token-file
        --kubeconfig FILE         the cluster's admin kubeconfig (default: /etc/kubernetes/admin.conf for
                                  kubeadm, /etc/rancher/k3s/k3s.yaml for k3s; optional for the others,
                                  where it adds version checks and readiness tracking)
        --join-token-ttl DURATION how long a node's join credential lasts (default: 15m)
        --join-command "ARGV"     for kubeadm-cli (default: kubeadm token create --print-join-command --ttl 15m)
                                  and k0s (default: k0s token create --role=worker)
        --kube-endpoint HOST:PORT the API server nodes join: required for static, and for k3s when the
                                  kubeconfig names 127.0.0.1; overrides cluster-info for kubeadm
        --kube-token-file FILE    for static: a file holding the kubeadm bootstrap token
        --kube-ca FILE            for static: the cluster CA (default /etc/kubernetes/pki/ca.crt)
        --k3s-node-token-file F   for k3s: give nodes the server's node-token instead of their own token
        --node-name-prefix P      nodes are named P-1, P-2, ... (default: node)
        --registry sqlite|etcd    where the node registry lives: a SQLite file in DIR (default), or an
                                  etcd cluster that several coordinators share (see docs/ha.md)
        --etcd-endpoints URLS     for etcd: comma-separated https://HOST:PORT of its members
        --etcd-ca FILE            for etcd: the CA its certificates chain to
        --etcd-cert FILE, --etcd-key FILE
                                  for etcd: the client certificate and key graft presents to it
        --etcd-prefix PREFIX      for etcd: the keys of this deployment (default: /graft/default/)
        --certificate-key-file F  for etcd, on the second and later coordinators: the certificate-key file
                                  the first one's init wrote, which opens the fleet's CA kept in etcd
      init makes no enrollment token: boot-config makes one when you are ready to flash.
  boot-config --config FILE [options]
      Create a fresh enrollment token and print a graft.json for the boot partition (it holds the token's
      secret: write it to a file, not a shared terminal log).
        --token-ttl DURATION      how long the token lasts (default: 24h)
        --token-uses N            how many machines may enroll with it (default: no limit)
        --approval auto|required  required: each new machine waits in pending_approval until
                                  `nodes approve` (default: auto)
        --allow LIST              only these machines may use it: comma-separated serial:SERIAL,
                                  mac:MAC and machine-id:ID entries (default: any machine)
  tokens list --config FILE [--json]
      Show the enrollment tokens: id, created, expiry, uses, policy, revoked. Never their secrets.
  tokens revoke ID --config FILE
      Revoke a token at once; machines that already enrolled with it are not affected.
  nodes approve|deny NAME --config FILE
      Let a node waiting in pending_approval in, or refuse it for good.
  nodes replace NAME --config FILE
      Accept a new key for NAME's machine-id (a re-flashed card): the key of the enrollment last refused
      as a conflict, or, when there was none, the key of NAME's next enrollment. Its old certificate stops
      working when the new key enrolls.
  nodes delete NAME --config FILE
      Forget NAME: its certificate is refused from the next request on; its machine enrolls as a new node.
  serve --config FILE [options]
      Run the coordinator's HTTPS API until SIGTERM or SIGINT. With a kubeconfig, it also watches the
      cluster's Nodes and marks graft nodes ready (revoking their join credential) or deleted.
        --network-threads N       threads for connections, TLS and answers from memory (default: one per
                                  core)
        --handler-threads N       threads for requests that write the registry or run a join backend
                                  (default: 4)
        --watch-timeout SECONDS   the Node watch is renewed this often (default: 300)
        --kube-retry-max-ms N     longest wait between retries of the Kubernetes API (default: 30000)
        --max-connections N       connections open at once; beyond, new ones wait in the kernel's
                                  backlog (default: 4096)
        --max-connections-per-address N
                                  connections one address may hold; beyond, closed at once (default: 256)
        --enroll-rate R           enrollments per second per address, sustained (default: 5)
        --enroll-burst N          enrollments one address may make at once (default: 60); beyond the
                                  bucket, 429 with Retry-After
  migrate --from sqlite:DIR --to etcd --etcd-endpoints URLS --etcd-ca F --etcd-cert F --etcd-key F
          [--etcd-prefix PREFIX]
      Move the coordinator in DIR from its SQLite registry into etcd, to serve the fleet from several
      coordinators (docs/ha.md). It may be running: its writes wait during the copy. The copy is read back
      and compared; then the SQLite registry refuses all writes, DIR/config.json names etcd, and the CA is
      sealed into etcd as init does. Restart the coordinator afterwards.
  operator add NAME --config FILE [--out FILE] [--lifetime DURATION]
      Issue an operator's credentials: a client certificate that reads the fleet, in a file (0600) that
      `get`, `describe`, `logs` and the dashboard use from any machine.

Reading the fleet (each takes --credentials FILE, or --config FILE as root on the coordinator; --help shows more):
  get nodes [-o wide|json|yaml] [--watch] [--phase PHASE]
      The nodes in a table that fits 120 columns, with the cluster's word and when each was last seen.
  describe node NAME [-o json|yaml]
      One node: facts, the whole reason, phase history, step outcomes, join credential, journal excerpts.
  logs NODE [-u UNIT] [-n LINES] [--since DURATION] [--fresh] [-f]
      The journal excerpts the node sent (kubelet, runtime, graft-agent); --fresh asks its agent for new ones.
  version [--client]
      This program's version and the coordinator's.
  status --config FILE [--json]
      The same table as `get nodes`, for root on the coordinator.
  help, --help
      Show this text.

  dashboard
      Print a one-time link (five minutes) that signs a browser in to the dashboard at https://ADVERTISE/.

The dashboard: https://ADVERTISE/ in a browser; `graft-coordinator dashboard` prints a sign-in link.
Metrics: GET https://ADVERTISE/metrics with an operator's certificate (Prometheus text format).

DURATION is Go's form or days: 90s, 15m, 1h30m, 24h0m0s, 7d.
)";

std::chrono::seconds duration_flag(const proto::cli_args& args, const std::string& flag, std::chrono::seconds fallback) {
    auto v = args.value(flag);
    if (!v) return fallback;
    auto d = proto::parse_duration(*v);
    if (!d) throw proto::usage_error("--" + flag + " must be a duration such as 90s, 15m, 1h30m or 7d, got '" + *v + "'");
    return *d;
}

std::optional<std::int64_t> uses_flag(const proto::cli_args& args) {
    if (!args.value("token-uses")) return std::nullopt;
    return args.number("token-uses", 0, 1, 1'000'000);
}

// The enrollment policy of a new token from boot-config's flags.
struct token_policy {
    std::chrono::seconds ttl{std::chrono::hours(24)};
    std::optional<std::int64_t> uses;
    approval_mode approval = approval_mode::automatic;
    std::vector<std::string> allow;
};

token_policy token_policy_flags(const proto::cli_args& args) {
    token_policy p;
    p.ttl = duration_flag(args, "token-ttl", p.ttl);
    p.uses = uses_flag(args);
    const std::string approval = args.value("approval").value_or("auto");
    if (approval == "required") p.approval = approval_mode::required;
    else if (approval != "auto") throw proto::usage_error("--approval must be auto or required, got '" + approval + "'");
    if (auto list = args.value("allow")) {
        for (const auto& entry : proto::split_list(*list, ',')) {
            const auto colon = entry.find(':');
            const std::string kind = entry.substr(0, colon == std::string::npos ? 0 : colon);
            std::string value = colon == std::string::npos ? "" : entry.substr(colon + 1);
            if ((kind != "serial" && kind != "mac" && kind != "machine-id") || value.empty())
                throw proto::usage_error("--allow takes serial:SERIAL, mac:MAC and machine-id:ID entries separated by "
                                         "commas; '" + entry + "' is none of them");
            // Agents report MACs and machine-ids in lowercase.
            if (kind != "serial") std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
            p.allow.push_back(kind + ":" + value);
        }
        if (p.allow.empty()) throw proto::usage_error("--allow is empty");
    }
    return p;
}

// Creates, stores and prints a new enrollment token inside the graft.json a node reads from its boot partition.
// The registry the config names: the SQLite file in the state directory, or the etcd cluster.
etcd_options etcd_options_of(const registry_config& registry) {
    etcd_options options;
    options.endpoints = registry.etcd_endpoints;
    options.ca_file = registry.etcd_ca;
    options.cert_file = registry.etcd_cert;
    options.key_file = registry.etcd_key;
    return options;
}

std::unique_ptr<node_registry> open_registry(const coordinator_config& config) {
    if (config.registry.backend != "etcd") return open_sqlite_registry(config.database_path());
    return open_etcd_registry(etcd_options_of(config.registry), config.registry.etcd_prefix);
}

void print_boot_config(const coordinator_config& config, const certificate_authority& ca, node_registry& registry,
                       const token_policy& policy) {
    auto now = proto::clock::now();
    auto token = make_enrollment_token(now, policy.ttl, policy.uses);
    token.stored.approval = policy.approval;
    token.stored.allow = policy.allow;
    registry.add_token(token.stored);
    proto::json boot{{"coordinator", config.advertise_url()}, {"ca_pin", ca.pin()}, {"enrollment_token", token.text}};
    if (config.registry.backend == "etcd") {
        // Every coordinator of the fleet, this one first: the agent fails over along the list.
        etcd_client etcd(etcd_options_of(config.registry));
        std::vector<std::string> urls{config.advertise_url()};
        for (auto& url : fleet_coordinators(etcd, config.registry.etcd_prefix))
            if (url != urls.front()) urls.push_back(std::move(url));
        boot["coordinators"] = urls;
    }
    std::cout << boot.dump(2) << "\n";
    std::cerr << "graft-coordinator: enrollment token " << token.stored.id << " expires at "
              << proto::to_rfc3339(now + policy.ttl)
              << (policy.uses ? ", after " + std::to_string(*policy.uses) + " enrollment(s)" : std::string())
              << (policy.approval == approval_mode::required ? "; each new machine waits for `nodes approve`" : "")
              << (policy.allow.empty() ? "" : "; only " + std::to_string(policy.allow.size()) + " listed machine(s)")
              << "\n";
}

// Raises the soft limit on open files to the hard one (the unit sets LimitNOFILE), and returns the connection cap
// that fits under it with room for the registry, the logs and the programs the join backends run.
std::size_t fit_descriptor_limit(std::size_t max_connections) {
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return max_connections;
    if (files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &files);
        ::getrlimit(RLIMIT_NOFILE, &files);
    }
    constexpr rlim_t reserve = 256;
    if (files.rlim_cur == RLIM_INFINITY || files.rlim_cur >= max_connections + reserve) return max_connections;
    const std::size_t fitted = files.rlim_cur > 2 * reserve ? files.rlim_cur - reserve : files.rlim_cur / 2;
    proto::log_warning("--max-connections " + std::to_string(max_connections) + " does not fit the limit of " +
                       std::to_string(files.rlim_cur) + " open files; serving at most " + std::to_string(fitted) +
                       " connections (raise LimitNOFILE in the unit for more)");
    return fitted;
}

// HOST:PORT from a flag; a malformed one is a usage error naming the flag.
std::pair<std::string, std::string> host_port_flag(const std::string& value, const std::string& flag) {
    try {
        return split_host_port(value, "--" + flag);
    } catch (const std::invalid_argument& e) {
        throw proto::usage_error(e.what());
    }
}

// --registry and the --etcd-* flags; the files are made absolute, as serve runs from another directory.
registry_config registry_flags(proto::cli_args& args, const std::string& flag = "registry") {
    registry_config out;
    out.backend = args.value(flag).value_or("sqlite");
    const char* etcd_flags[] = {"etcd-endpoints", "etcd-ca", "etcd-cert", "etcd-key", "etcd-prefix"};
    if (out.backend == "sqlite") {
        for (const char* etcd_flag : etcd_flags)
            if (args.value(etcd_flag)) throw proto::usage_error(std::string("--") + etcd_flag + " is for --" + flag + " etcd");
        return out;
    }
    if (out.backend != "etcd") throw proto::usage_error("--" + flag + " must be sqlite or etcd, got '" + out.backend + "'");
    for (const auto& url : proto::split_list(args.required("etcd-endpoints"), ',')) {
        if (url.rfind("https://", 0) != 0)
            throw proto::usage_error("--etcd-endpoints: '" + url + "' is not https://HOST:PORT (graft speaks to etcd over TLS only)");
        out.etcd_endpoints.push_back(url);
    }
    const auto absolute = [](const std::string& f) { return std::filesystem::absolute(f).lexically_normal().string(); };
    out.etcd_ca = absolute(args.required("etcd-ca"));
    out.etcd_cert = absolute(args.required("etcd-cert"));
    out.etcd_key = absolute(args.required("etcd-key"));
    out.etcd_prefix = args.value("etcd-prefix").value_or(out.etcd_prefix);
    if (out.etcd_prefix.empty() || out.etcd_prefix.front() != '/' || out.etcd_prefix.back() != '/')
        throw proto::usage_error("--etcd-prefix must start and end with '/', such as /graft/site-a/");
    return out;
}

int init(const std::vector<std::string>& argv) {
    proto::cli_args args(argv,
                         {"dir", "advertise", "listen", "join-backend", "join-command", "kube-endpoint", "kube-token-file",
                          "kube-ca", "node-name-prefix", "kubeconfig", "join-token-ttl",
                          "k3s-node-token-file", "registry", "etcd-endpoints", "etcd-ca", "etcd-cert", "etcd-key",
                          "etcd-prefix", "certificate-key-file"},
                         {});
    coordinator_config config;
    config.state_dir = std::filesystem::absolute(args.required("dir")).lexically_normal().string();
    config.advertise = args.required("advertise");
    auto [host, port] = host_port_flag(config.advertise, "advertise");
    config.listen = args.value("listen").value_or(config.advertise);
    host_port_flag(config.listen, "listen");
    config.node_name_prefix = args.value("node-name-prefix").value_or("node");
    if (!proto::is_node_name(config.node_name_prefix + "-1") || config.node_name_prefix.size() > 40)
        throw proto::usage_error("--node-name-prefix must be lowercase letters, digits and '-' (at most 40)");
    const std::string backend_flag = args.value("join-backend").value_or("kubeadm");
    const backend_traits* backend = find_backend(backend_flag);
    if (!backend)
        throw proto::usage_error("--join-backend must be " + backend_names() + ", got '" + backend_flag + "'");
    config.join.backend = backend->name;
    config.join.token_ttl = duration_flag(args, "join-token-ttl", std::chrono::minutes(15));
    config.registry = registry_flags(args);
    if (auto ep = args.value("kube-endpoint")) {
        host_port_flag(*ep, "kube-endpoint");
        config.join.api_server_endpoint = *ep;
    }
    config.kubeconfig = args.value("kubeconfig").value_or(std::string(backend->default_kubeconfig));
    if (!config.kubeconfig.empty()) {
        config.kubeconfig = std::filesystem::absolute(config.kubeconfig).lexically_normal().string();
        try {
            load_kubeconfig(config.kubeconfig);  // only to catch a wrong file now rather than at the first join
        } catch (const std::exception& e) {
            throw proto::usage_error(std::string(e.what()) + " (give the cluster's admin kubeconfig with --kubeconfig, "
                                     "or choose another --join-backend)");
        }
    }
    if (!backend->default_command.empty()) {
        config.join.command =
            proto::split_words(args.value("join-command").value_or(std::string(backend->default_command)));
        if (config.join.command.empty()) throw proto::usage_error("--join-command is empty");
    }
    if (backend->flavour == proto::flavour::k3s) {
        if (auto f = args.value("k3s-node-token-file"))
            config.join.k3s_token_file = std::filesystem::absolute(*f).lexically_normal().string();
    }
    if (backend->static_token) {
        if (config.join.api_server_endpoint.empty()) args.required("kube-endpoint");
        const std::string token_file = args.required("kube-token-file");
        std::string token = proto::read_file(token_file);
        while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
        if (!proto::is_bootstrap_token(token))
            throw proto::usage_error(token_file + " does not hold a kubeadm bootstrap token [a-z0-9]{6}.[a-z0-9]{16}");
        config.join.token = token;
        const std::string ca_file = args.value("kube-ca").value_or("/etc/kubernetes/pki/ca.crt");
        auto cluster_ca = proto::certificate_from_pem(proto::read_file(ca_file));
        config.join.ca_cert_hashes = {proto::spki_pin(*cluster_ca)};
    }

    const std::string config_path = config.state_dir + "/config.json";
    if (std::filesystem::exists(config_path))
        throw std::runtime_error(config_path + " already exists: this directory holds a coordinator already. "
                                 "Use `graft-coordinator boot-config --config " + config_path + "` for a new graft.json");

    // With etcd, the fleet's CA may be there already (shared_ca.hpp): then this coordinator joins it. Checked before
    // anything is written.
    const auto key_file = args.value("certificate-key-file");
    std::unique_ptr<etcd_client> etcd;
    std::optional<std::string> shared_certificate;
    const std::string& prefix = config.registry.etcd_prefix;
    if (config.registry.backend == "etcd") {
        etcd = std::make_unique<etcd_client>(etcd_options_of(config.registry));
        shared_certificate = shared_ca_certificate(*etcd, prefix);
        if (shared_certificate && !key_file)
            throw proto::usage_error("etcd holds this fleet's CA under " + prefix + " already: give --certificate-key-file, "
                                     "the certificate-key file the first coordinator's init wrote in its state directory");
        if (!shared_certificate && key_file)
            throw proto::usage_error("etcd holds no CA under " + prefix + " yet: the first coordinator's init makes it, "
                                     "without --certificate-key-file");
    } else if (key_file) {
        throw proto::usage_error("--certificate-key-file is for --registry etcd");
    }
    std::string certificate_key;
    if (key_file) {
        certificate_key = proto::read_file(*key_file);
        while (!certificate_key.empty() && std::isspace(static_cast<unsigned char>(certificate_key.back()))) certificate_key.pop_back();
    }

    std::filesystem::create_directories(config.state_dir);
    std::filesystem::permissions(config.state_dir, std::filesystem::perms::owner_all);
    auto ca = shared_certificate ? adopt_shared_ca(*etcd, prefix, config.state_dir, certificate_key)
                                 : certificate_authority::create(config.state_dir, std::chrono::hours(24 * 3650));
    const std::string key_path = config.state_dir + "/certificate-key";
    if (etcd && !shared_certificate) {
        try {
            proto::write_file_atomic(key_path, share_ca(*etcd, prefix, ca) + "\n", 0600);
        } catch (...) {
            // Another init made the fleet's CA first: this one's goes, so init can run again and join it.
            std::filesystem::remove(config.state_dir + "/ca.crt");
            std::filesystem::remove(config.state_dir + "/ca.key");
            throw;
        }
    }
    // Each coordinator has a server certificate of its own, for the address its nodes dial, from the one CA.
    ca.issue_server_certificate(config.state_dir, host, std::chrono::hours(24 * 825));
    auto registry = open_registry(config);
    if (etcd) announce_coordinator(*etcd, prefix, config.advertise_url());
    // Written last and 0600 (a static join token lives in it): its presence marks a finished init.
    proto::write_file_atomic(config_path, config.to_json_text(), 0600);
    std::cerr << "graft-coordinator: initialised " << config.state_dir << " (CA " << ca.pin() << ")\n";
    if (etcd && !shared_certificate)
        std::cerr << "the fleet's CA is in etcd under " << prefix << ", sealed; to add a coordinator, copy " << key_path
                  << " to it (as root, over ssh) and run init there with the same --etcd-* flags and\n"
                  << "  --certificate-key-file FILE\n";
    else if (shared_certificate)
        std::cerr << "this coordinator serves the fleet under " << prefix << " in etcd with the others; "
                  << "delete the certificate-key file you copied here once init is done\n";
    std::cerr << "next: start it (systemctl start graft-coordinator, or graft-coordinator serve --config " << config_path
              << "), then make a graft.json for your cards:\n  graft-coordinator boot-config --config " << config_path
              << " --token-uses N > graft.json\n";
    return 0;
}

int boot_config(const std::vector<std::string>& argv) {
    proto::cli_args args(argv, {"config", "token-ttl", "token-uses", "approval", "allow"}, {});
    auto config = coordinator_config::load(args.required("config"));
    const auto policy = token_policy_flags(args);
    auto ca = certificate_authority::load(config.state_dir);
    auto registry = open_registry(config);
    print_boot_config(config, ca, *registry, policy);
    return 0;
}

// `ACTION NAME [flags]`: the action and its one operand, then the flags.
struct operand_command {
    std::string action, operand;
    std::vector<std::string> flags;
};

operand_command split_operand(const std::vector<std::string>& argv, const std::string& command,
                              const std::set<std::string>& actions, const std::string& operand) {
    std::string list;
    for (const auto& a : actions) list += (list.empty() ? "" : "|") + a;
    if (argv.empty() || !actions.contains(argv[0]))
        throw proto::usage_error(command + " needs an action: " + command + " " + list +
                                 (operand.empty() ? "" : " " + operand) + " --config FILE");
    operand_command c{argv[0], {}, {argv.begin() + 1, argv.end()}};
    if (!operand.empty()) {
        if (c.flags.empty() || c.flags[0].starts_with("--"))
            throw proto::usage_error(command + " " + c.action + " needs " + operand + ": " + command + " " + c.action + " " +
                                     operand + " --config FILE");
        c.operand = c.flags[0];
        c.flags.erase(c.flags.begin());
    }
    return c;
}

// A token's row of `tokens list`: everything but the id, which comes first.
std::vector<std::string> describe_token(const stored_token& t, std::int64_t now) {
    const std::string state = t.revoked_at ? "revoked" : t.expires_at <= now ? "expired"
                            : (t.uses_left && *t.uses_left <= 0)             ? "used up"
                                                                             : "valid";
    std::string allow;
    for (const auto& a : t.allow) allow += (allow.empty() ? "" : ",") + a;
    return {t.id,
            state,
            proto::to_rfc3339(proto::from_unix(t.created_at)),
            proto::to_rfc3339(proto::from_unix(t.expires_at)),
            std::to_string(t.used),
            t.uses_left ? std::to_string(*t.uses_left) : "unlimited",
            t.approval == approval_mode::required ? "required" : "auto",
            allow.empty() ? "any" : allow};
}

int tokens(const std::vector<std::string>& argv) {
    auto c = split_operand(argv, "tokens", {"list", "revoke"}, argv.size() > 0 && argv[0] == "revoke" ? "ID" : "");
    proto::cli_args args(c.flags, {"config"}, c.action == "list" ? std::set<std::string>{"json"} : std::set<std::string>{});
    auto config = coordinator_config::load(args.required("config"));
    auto registry = open_registry(config);
    const auto now = proto::to_unix(proto::clock::now());
    if (c.action == "revoke") {
        if (!registry->revoke_token(c.operand, now))
            throw std::runtime_error("no enrollment token with id '" + proto::escape_for_display(c.operand) + "' in " +
                                     config.database_path() + " (`graft-coordinator tokens list` shows them)");
        std::cout << "revoked enrollment token " << c.operand << "\n";
        return 0;
    }
    const auto all = registry->tokens();
    if (args.has("json")) {
        proto::json out = proto::json::array();
        for (const auto& t : all) {
            proto::json j{{"id", t.id},
                          {"created_at", proto::to_rfc3339(proto::from_unix(t.created_at))},
                          {"expires_at", proto::to_rfc3339(proto::from_unix(t.expires_at))},
                          {"used", t.used},
                          {"approval", t.approval == approval_mode::required ? "required" : "auto"},
                          {"allow", t.allow}};
            j["uses_left"] = t.uses_left ? proto::json(*t.uses_left) : proto::json(nullptr);
            j["revoked_at"] = t.revoked_at ? proto::json(proto::to_rfc3339(proto::from_unix(*t.revoked_at))) : proto::json(nullptr);
            out.push_back(j);
        }
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::vector<std::vector<std::string>> rows{{"ID", "STATE", "CREATED", "EXPIRES", "USED", "USES-LEFT", "APPROVAL", "ALLOW"}};
    for (const auto& t : all) rows.push_back(describe_token(t, now));
    std::cout << format_table(rows);
    if (all.empty()) std::cout << "(no enrollment tokens: `graft-coordinator boot-config` makes one)\n";
    return 0;
}

int nodes(const std::vector<std::string>& argv) {
    auto c = split_operand(argv, "nodes", {"approve", "deny", "replace", "delete"}, "NAME");
    proto::cli_args args(c.flags, {"config"}, {});
    auto config = coordinator_config::load(args.required("config"));
    if (!proto::is_node_name(c.operand))
        throw proto::usage_error("'" + proto::escape_for_display(c.operand) + "' is not a node name");
    auto registry = open_registry(config);
    auto node = registry->find(c.operand);
    if (!node)
        throw std::runtime_error("no node named " + c.operand + " in " + config.database_path() +
                                 " (`graft-coordinator status` lists them)");
    const auto now = proto::to_unix(proto::clock::now());
    if (c.action == "approve" || c.action == "deny") {
        const bool done = c.action == "approve" ? registry->approve(c.operand, now) : registry->deny(c.operand, now);
        if (!done)
            throw std::runtime_error(c.operand + " is " + node->phase + ", not pending_approval: there is nothing to " +
                                     c.action);
        std::cout << c.operand << (c.action == "approve" ? " approved: its agent gets its certificate on its next try"
                                                         : " denied: its enrollment is refused from now on") << "\n";
        proto::log_info("an operator " + std::string(c.action == "approve" ? "approved" : "denied") + " node " + c.operand,
                        {{"GRAFT_NODE", c.operand}});
    } else if (c.action == "replace") {
        registry->allow_replacement(c.operand);
        std::cout << c.operand << ": "
                  << (node->conflict_key_pin.empty() ? "the next machine to enroll with its machine-id may bring a new key"
                                                     : "the machine refused as a conflict may enroll with its new key")
                  << "; the old certificate stops working when it does\n";
        proto::log_info("an operator allowed node " + c.operand + " a new key", {{"GRAFT_NODE", c.operand}});
    } else {
        registry->remove(c.operand);
        std::cout << "deleted " << c.operand << ": its certificates are refused from the next request on"
                  << (node->phase == "ready" || node->phase == "joined"
                          ? "; the Node stays in the cluster until you `kubectl delete node " + c.operand + "`"
                          : "")
                  << "\n";
        proto::log_info("an operator deleted node " + c.operand, {{"GRAFT_NODE", c.operand}});
    }
    return 0;
}

int serve(const std::vector<std::string>& argv) {
    proto::cli_args args(argv, {"config", "handler-threads", "network-threads", "watch-timeout", "kube-retry-max-ms",
                                "max-connections", "max-connections-per-address", "enroll-rate", "enroll-burst"}, {});
    auto config = coordinator_config::load(args.required("config"));
    server_options options;
    options.handler_threads = static_cast<std::size_t>(args.number("handler-threads", 4, 1, 64));
    options.network_threads = static_cast<std::size_t>(args.number("network-threads", 0, 0, 256));
    admission_limits limits;
    limits.max_connections = static_cast<std::size_t>(args.number("max-connections", 4096, 16, 1'000'000));
    limits.max_per_address = static_cast<std::size_t>(
        args.number("max-connections-per-address", 256, 1, static_cast<long long>(limits.max_connections)));
    limits.enroll_rate = static_cast<double>(args.number("enroll-rate", 5, 1, 1'000'000));
    limits.enroll_burst = static_cast<double>(args.number("enroll-burst", 60, 1, 1'000'000));
    limits.max_connections = fit_descriptor_limit(limits.max_connections);
    rate_limiter enroll_limiter(limits.enroll_rate, limits.enroll_burst);
    node_watch_settings watch_settings;
    watch_settings.watch_timeout = std::chrono::seconds(args.number("watch-timeout", 300, 1, 3600));
    watch_settings.backoff_cap = std::chrono::milliseconds(args.number("kube-retry-max-ms", 30000, 100, 600000));
    watch_settings.backoff_initial = std::min(watch_settings.backoff_initial, watch_settings.backoff_cap);
    auto ca = certificate_authority::load(config.state_dir);
    auto database = open_registry(config);
    // A kubeconfig that cannot be used is reported (status, journal, each join's 503) but does not stop serving:
    // enrollment and host preparation go on, and the file is read again until it works.
    std::shared_ptr<kube_connection> kube;
    std::unique_ptr<cluster_health> cluster;
    if (!config.kubeconfig.empty()) {
        kube = std::make_shared<kube_connection>(config.kubeconfig);
        cluster = std::make_unique<cluster_health>(config.kubeconfig);
    }
    auto joins = make_join_backend(config.join, kube);
    auto tls = proto::make_server_context(proto::read_file(config.state_dir + "/server.crt"),
                                          proto::read_file(config.state_dir + "/server.key"), ca.ca_pem());
    session_tickets tickets(config.state_dir + "/ticket-keys", tls);
    // Status reads come from the snapshot; every write goes through `registry`, which keeps it current.
    node_snapshot snapshot(*database, cluster != nullptr);
    snapshotting_registry tracked(*database, snapshot);
    node_registry* registry = &tracked;
    coordinator_state state{*registry, ca, *joins, config.node_name_prefix,
                            std::chrono::duration_cast<std::chrono::seconds>(config.certificate_lifetime)};
    state.cluster = cluster.get();
    state.enroll_limiter = &enroll_limiter;
    state.snapshot = &snapshot;
    // Journal requests and last-seen times: in this process, or shared through etcd with the other coordinators.
    local_journal_requests local_asks;
    std::unique_ptr<journal_requests> shared_asks;
    std::unique_ptr<shared_last_seen> shared_seen;
    if (config.registry.backend == "etcd") {
        shared_asks = open_etcd_journal_requests(etcd_options_of(config.registry), config.registry.etcd_prefix);
        shared_seen = std::make_unique<shared_last_seen>(etcd_options_of(config.registry), config.registry.etcd_prefix);
    }
    state.journal_asks = shared_asks ? shared_asks.get() : &local_asks;
    dashboard_sessions sessions;
    state.sessions = &sessions;

    // The Node watch runs on a thread of its own: its API calls block, and must not hold up the server's threads.
    net::io_context watch_io;
    std::thread watcher;
    std::optional<readiness_tracker> tracker;
    if (kube) {
        tracker.emplace(*registry, *joins);
        if (config.registry.backend == "etcd") tracker->stand_by();  // until elected
        state.name_in_cluster = [&tracker](const std::string& name) { return tracker->in_cluster(name); };
        net::co_spawn(watch_io, watch_nodes(*kube, *tracker, *cluster, watch_settings), [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                proto::log_error(std::string("the Node watch stopped: ") + ex.what(), {}, proto::message_id::kube_api_problem);
            }
        });
        watcher = std::thread([&] { watch_io.run(); });
    }
    // With several coordinators, the Node watch runs in each (every one needs the cluster's names when it enrolls),
    // and one elected coordinator acts on it.
    std::unique_ptr<leader_election> election;
    if (config.registry.backend == "etcd" && tracker) {
        metrics().leading(false);
        election = std::make_unique<leader_election>(
            etcd_options_of(config.registry), config.registry.etcd_prefix + "leader", config.advertise_url(),
            [&](bool leading) {
                metrics().leading(leading);
                if (leading) net::post(watch_io, [&] { tracker->take_over(); });
                else tracker->stand_by();
            });
    }
    struct stop_watcher {
        net::io_context& io;
        std::thread& thread;
        ~stop_watcher() {
            io.stop();
            if (thread.joinable()) thread.join();
        }
    } stop_watch{watch_io, watcher};

    auto [host, port] = split_host_port(config.listen, "listen");
    net::io_context io;
    options.limits = limits;
    https_server server(tls, {net::ip::make_address(host), static_cast<unsigned short>(std::stoi(port))}, state, options);
    server.start();

    // Every second: changes an operator's command made to the registry reach the snapshot, and coordinators sharing
    // etcd tell each other which nodes they heard from. Every ten minutes: the ticket keys are read again (another
    // coordinator may have rotated them) and rotated when due.
    net::steady_timer look_timer(io);
    int looks = 0;
    bool exchanging = true;  // the last exchange of last-seen times worked: a failure is logged once, not each second
    std::function<void()> look = [&] {
        try {
            snapshot.reload_if_changed();
            if (++looks % 600 == 0) tickets.refresh();
        } catch (const std::exception& e) {
            proto::log_warning(std::string("refreshing the node snapshot or the ticket keys: ") + e.what());
        }
        if (shared_seen) {
            auto heard = snapshot.heard_here_since_last();
            try {
                for (const auto& [name, at] : shared_seen->exchange(heard)) snapshot.heard_elsewhere(name, at);
                if (!exchanging) proto::log_info("last-seen times pass between coordinators through etcd again");
                exchanging = true;
            } catch (const std::exception& e) {
                for (const auto& [name, at] : heard) snapshot.seen(name, at);  // told at the next exchange
                if (exchanging) proto::log_warning(std::string("passing last-seen times through etcd: ") + e.what());
                exchanging = false;
            }
        }
        look_timer.expires_after(std::chrono::seconds(1));
        look_timer.async_wait([&](const boost::system::error_code& ec) {
            if (!ec) look();
        });
    };
    look();

    // Expired and revoked enrollment tokens are kept an hour (an agent whose answer was lost may still ask again with
    // one), then purged, at start and hourly.
    net::steady_timer purge_timer(io);
    std::function<void()> purge_tokens = [&] {
        if (auto n = registry->purge_tokens(proto::to_unix(proto::clock::now()) - 3600))
            proto::log_info("purged " + std::to_string(n) + " expired or revoked enrollment token(s)");
        purge_timer.expires_after(std::chrono::hours(1));
        purge_timer.async_wait([&](const boost::system::error_code& ec) {
            if (!ec) purge_tokens();
        });
    };
    purge_tokens();

    net::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        proto::notify("STOPPING=1\nSTATUS=Stopping");
        proto::log_info("stopping");
        server.stop();
        purge_timer.cancel();
        look_timer.cancel();
        io.stop();
    });

    const auto bound = server.local_endpoint();
    const std::string where = bound.address().to_string() + ":" + std::to_string(bound.port());
    proto::log_info(std::string("graft-coordinator ") + proto::graft_version + " serving on " + where + ", CA " + ca.pin(),
                    {}, proto::message_id::coordinator_started);
    proto::notify("READY=1\nSTATUS=Serving on " + where);
    proto::start_watchdog(io);
    io.run();
    // The Node watch stops before the server: its writes wake the server's watchers.
    watch_io.stop();
    if (watcher.joinable()) watcher.join();
    return 0;
}

// `migrate --from sqlite:DIR --to etcd ...`: see the usage text, and migration.hpp.
int migrate(const std::vector<std::string>& argv) {
    proto::cli_args args(argv, {"from", "to", "etcd-endpoints", "etcd-ca", "etcd-cert", "etcd-key", "etcd-prefix"}, {});
    const std::string from = args.required("from");
    if (!from.starts_with("sqlite:") || from.size() == 7)
        throw proto::usage_error("--from takes sqlite:DIR, DIR being the coordinator's state directory (holding config.json)");
    if (args.required("to") != "etcd") throw proto::usage_error("--to must be etcd");
    const registry_config target = registry_flags(args, "to");
    const std::string config_path = std::filesystem::absolute(from.substr(7)).lexically_normal().string() + "/config.json";
    auto config = coordinator_config::load(config_path);
    if (config.registry.backend != "sqlite")
        throw std::runtime_error(config_path + " names an etcd registry already: there is nothing to migrate");
    auto ca = certificate_authority::load(config.state_dir);
    const std::string& prefix = target.etcd_prefix;
    etcd_client etcd(etcd_options_of(target));
    if (!etcd.get_prefix(prefix, {.keys_only = true}).empty())
        throw std::runtime_error("etcd holds keys under " + prefix + " already: migrate into a prefix no fleet uses "
                                 "(--etcd-prefix)");

    // Read whole under the registry's write lock; copied; read back and compared; only then frozen.
    sqlite_snapshot source(config.database_path());
    const auto& contents = source.contents();
    const std::string key_path = config.state_dir + "/certificate-key";
    try {
        import_etcd_registry(etcd, prefix, contents);
        if (export_etcd_registry(etcd, prefix) != contents)
            throw std::runtime_error("the copy in etcd differs from " + config.database_path() + " when read back");
        proto::write_file_atomic(key_path, share_ca(etcd, prefix, ca) + "\n", 0600);
        announce_coordinator(etcd, prefix, config.advertise_url());
    } catch (...) {
        etcd.txn({}, {etcd_op::erase_prefix(prefix)});  // nothing half-copied is left to be taken for a fleet
        throw;
    }
    const std::string when = proto::to_rfc3339(proto::clock::now());
    source.freeze("this registry moved to etcd (" + prefix + ") at " + when + " (graft-coordinator migrate); " +
                  config_path + " names etcd now: restart the coordinator");
    config.registry = target;
    proto::write_file_atomic(config_path, config.to_json_text(), 0600);
    std::cerr << "graft-coordinator: copied " << contents.at("nodes").size() << " node(s) and " << contents.at("tokens").size()
              << " enrollment token(s) into etcd under " << prefix << ", and read them back alike.\n"
              << config.database_path() << " refuses writes from now on, and " << config_path << " names etcd.\n"
              << "next: restart the coordinator (systemctl restart graft-coordinator); to add another, copy " << key_path
              << " to it and run init there with the same --etcd-* flags and --certificate-key-file FILE (docs/ha.md)\n";
    return 0;
}

// The table of `get nodes`, as root on the coordinator sees it; kept for the scripts that call it by this name.
int status(const std::vector<std::string>& argv) {
    proto::cli_args args(argv, {"config"}, {"json"});
    std::vector<std::string> get{"nodes", "--config", args.required("config")};
    if (args.has("json")) get.insert(get.end(), {"-o", "json"});
    return get_command(get);
}

}  // namespace

int run_command_line(const std::vector<std::string>& args) {
    proto::set_log_identity("graft-coordinator");
    // Keys, the registry (token hashes) and config.json (a static join token) are the coordinator's alone.
    ::umask(077);
    return proto::run_main("graft-coordinator", usage, args, [](const std::string& command, const std::vector<std::string>& rest) {
        if (command == "init") return init(rest);
        if (command == "boot-config") return boot_config(rest);
        if (command == "serve") return serve(rest);
        if (command == "status") return status(rest);
        if (command == "tokens") return tokens(rest);
        if (command == "nodes") return nodes(rest);
        if (command == "operator") return operator_command(rest);
        if (command == "migrate") return migrate(rest);
        if (command == "get") return get_command(rest);
        if (command == "describe") return describe_command(rest);
        if (command == "logs") return logs_command(rest);
        if (command == "version") return version_command(rest);
        if (command == "dashboard") return dashboard_command(rest);
        throw proto::usage_error("unknown command '" + command + "'");
    }, operate_usages());
}

}  // namespace graft::coordinator
