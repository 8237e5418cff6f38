#include "coordinator/commands.hpp"

#include "coordinator/config.hpp"
#include "coordinator/enroll/authority.hpp"
#include "coordinator/enroll/tokens.hpp"
#include "coordinator/http/server.hpp"
#include "coordinator/join/backend.hpp"
#include "coordinator/kube/client.hpp"
#include "coordinator/kube/cluster_health.hpp"
#include "coordinator/kube/kubeconfig.hpp"
#include "coordinator/kube/node_watch.hpp"
#include "coordinator/kube/readiness.hpp"
#include "coordinator/status/table.hpp"
#include "coordinator/store/registry.hpp"
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
#include <boost/asio/signal_set.hpp>

#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>
#include <sys/stat.h>

namespace graft::coordinator {
namespace {

namespace net = boost::asio;

constexpr const char* usage = R"(usage: graft-coordinator COMMAND [OPTIONS]

Enrolls graft nodes, issues their certificates and join credentials, and tracks them until they are Ready.

Commands:
  init --dir DIR --advertise HOST:PORT [options]
      Create a coordinator in DIR: its CA, server certificate, config.json and node registry. Prints the
      graft.json a node image needs on its boot partition (it holds a secret: keep it off shared storage).
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
        --token-ttl DURATION      lifetime of the first enrollment token (default: 24h)
        --token-uses N            how many nodes may enroll with it (default: no limit)
  boot-config --config FILE [--token-ttl DURATION] [--token-uses N]
      Create a fresh enrollment token and print a graft.json for the boot partition.
  serve --config FILE [--handler-threads N] [--watch-timeout SECONDS] [--kube-retry-max-ms N]
      Run the coordinator's HTTPS API until SIGTERM or SIGINT. With a kubeconfig, it also watches the
      cluster's Nodes and marks graft nodes ready (revoking their join credential) or deleted. The watch
      is renewed every --watch-timeout seconds (default 300); after a failure it retries with backoff up
      to --kube-retry-max-ms (default 30000).
  status --config FILE [--json]
      Ask the running coordinator for every node and print a table (or its JSON).
  help, --help
      Show this text.

DURATION is a number with s, m, h or d: 90s, 15m, 24h, 7d.
)";

std::chrono::seconds duration_flag(const proto::cli_args& args, const std::string& flag, std::chrono::seconds fallback) {
    auto v = args.value(flag);
    if (!v) return fallback;
    auto d = proto::parse_duration(*v);
    if (!d) throw proto::usage_error("--" + flag + " must be a duration such as 90s, 15m, 24h or 7d, got '" + *v + "'");
    return *d;
}

std::optional<std::int64_t> uses_flag(const proto::cli_args& args) {
    if (!args.value("token-uses")) return std::nullopt;
    return args.number("token-uses", 0, 1, 1'000'000);
}

// Creates, stores and prints a new enrollment token inside the graft.json a node reads from its boot partition.
void print_boot_config(const coordinator_config& config, const certificate_authority& ca, node_registry& registry,
                       std::chrono::seconds ttl, std::optional<std::int64_t> uses) {
    auto now = proto::clock::now();
    auto token = make_enrollment_token(now, ttl, uses);
    registry.add_token(token.stored);
    proto::json boot{{"coordinator", config.advertise_url()}, {"ca_pin", ca.pin()}, {"enrollment_token", token.text}};
    std::cout << boot.dump(2) << "\n";
    std::cerr << "graft-coordinator: the enrollment token expires at " << proto::to_rfc3339(now + ttl)
              << (uses ? ", after " + std::to_string(*uses) + " enrollment(s)" : std::string()) << "\n";
}

// HOST:PORT from a flag; a malformed one is a usage error naming the flag.
std::pair<std::string, std::string> host_port_flag(const std::string& value, const std::string& flag) {
    try {
        return split_host_port(value, "--" + flag);
    } catch (const std::invalid_argument& e) {
        throw proto::usage_error(e.what());
    }
}

int init(const std::vector<std::string>& argv) {
    proto::cli_args args(argv,
                         {"dir", "advertise", "listen", "join-backend", "join-command", "kube-endpoint", "kube-token-file",
                          "kube-ca", "node-name-prefix", "token-ttl", "token-uses", "kubeconfig", "join-token-ttl",
                          "k3s-node-token-file"},
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
    const auto ttl = duration_flag(args, "token-ttl", std::chrono::hours(24));
    const auto uses = uses_flag(args);

    config.join.backend = args.value("join-backend").value_or("kubeadm");
    if (config.join.backend == "command") config.join.backend = "kubeadm-cli";
    const std::string& backend = config.join.backend;
    if (backend != "kubeadm" && backend != "k3s" && backend != "k0s" && backend != "kubeadm-cli" && backend != "static")
        throw proto::usage_error("--join-backend must be kubeadm, k3s, k0s, kubeadm-cli or static, got '" + backend + "'");
    config.join.token_ttl = duration_flag(args, "join-token-ttl", std::chrono::minutes(15));
    if (auto ep = args.value("kube-endpoint")) {
        host_port_flag(*ep, "kube-endpoint");
        config.join.api_server_endpoint = *ep;
    }
    if (backend == "kubeadm") config.kubeconfig = args.value("kubeconfig").value_or("/etc/kubernetes/admin.conf");
    else if (backend == "k3s") config.kubeconfig = args.value("kubeconfig").value_or("/etc/rancher/k3s/k3s.yaml");
    else config.kubeconfig = args.value("kubeconfig").value_or("");
    if (!config.kubeconfig.empty()) {
        config.kubeconfig = std::filesystem::absolute(config.kubeconfig).lexically_normal().string();
        try {
            load_kubeconfig(config.kubeconfig);  // only to catch a wrong file now rather than at the first join
        } catch (const std::exception& e) {
            throw proto::usage_error(std::string(e.what()) + " (give the cluster's admin kubeconfig with --kubeconfig, "
                                     "or choose another --join-backend)");
        }
    }
    if (backend == "kubeadm-cli") {
        config.join.command = proto::split_words(
            args.value("join-command").value_or("kubeadm token create --print-join-command --ttl 15m"));
        if (config.join.command.empty()) throw proto::usage_error("--join-command is empty");
    } else if (backend == "k0s") {
        config.join.command = proto::split_words(args.value("join-command").value_or("k0s token create --role=worker"));
        if (config.join.command.empty()) throw proto::usage_error("--join-command is empty");
    } else if (backend == "k3s") {
        if (auto f = args.value("k3s-node-token-file"))
            config.join.k3s_token_file = std::filesystem::absolute(*f).lexically_normal().string();
    } else if (backend == "static") {
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
    std::filesystem::create_directories(config.state_dir);
    std::filesystem::permissions(config.state_dir, std::filesystem::perms::owner_all);

    auto ca = certificate_authority::create(config.state_dir, std::chrono::hours(24 * 3650));
    ca.issue_server_certificate(config.state_dir, host, std::chrono::hours(24 * 825));
    auto registry = open_sqlite_registry(config.database_path());
    // Written last and 0600 (a static join token lives in it): its presence marks a finished init.
    proto::write_file_atomic(config_path, config.to_json_text(), 0600);
    std::cerr << "graft-coordinator: initialised " << config.state_dir << " (CA " << ca.pin() << ")\n";
    print_boot_config(config, ca, *registry, ttl, uses);
    return 0;
}

int boot_config(const std::vector<std::string>& argv) {
    proto::cli_args args(argv, {"config", "token-ttl", "token-uses"}, {});
    auto config = coordinator_config::load(args.required("config"));
    const auto ttl = duration_flag(args, "token-ttl", std::chrono::hours(24));
    const auto uses = uses_flag(args);
    auto ca = certificate_authority::load(config.state_dir);
    auto registry = open_sqlite_registry(config.database_path());
    print_boot_config(config, ca, *registry, ttl, uses);
    return 0;
}

int serve(const std::vector<std::string>& argv) {
    proto::cli_args args(argv, {"config", "handler-threads", "watch-timeout", "kube-retry-max-ms"}, {});
    auto config = coordinator_config::load(args.required("config"));
    const auto threads = static_cast<std::size_t>(args.number("handler-threads", 4, 1, 64));
    node_watch_settings watch_settings;
    watch_settings.watch_timeout = std::chrono::seconds(args.number("watch-timeout", 300, 1, 3600));
    watch_settings.backoff_cap = std::chrono::milliseconds(args.number("kube-retry-max-ms", 30000, 100, 600000));
    watch_settings.backoff_initial = std::min(watch_settings.backoff_initial, watch_settings.backoff_cap);
    auto ca = certificate_authority::load(config.state_dir);
    auto registry = open_sqlite_registry(config.database_path());
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
    coordinator_state state{*registry, ca, *joins, config.node_name_prefix,
                            std::chrono::duration_cast<std::chrono::seconds>(config.certificate_lifetime)};
    state.cluster = cluster.get();

    // The Node watch runs on a thread of its own: its API calls block, and must not hold up the server's threads.
    net::io_context watch_io;
    std::thread watcher;
    std::optional<readiness_tracker> tracker;
    if (kube) {
        tracker.emplace(*registry, *joins);
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
    https_server server(io, tls, {net::ip::make_address(host), static_cast<unsigned short>(std::stoi(port))}, state,
                        threads);
    server.start();

    net::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        proto::notify("STOPPING=1\nSTATUS=Stopping");
        proto::log_info("stopping");
        server.stop();
        io.stop();
    });

    const auto bound = server.local_endpoint();
    const std::string where = bound.address().to_string() + ":" + std::to_string(bound.port());
    proto::log_info(std::string("graft-coordinator ") + proto::graft_version + " serving on " + where + ", CA " + ca.pin(),
                    {}, proto::message_id::coordinator_started);
    proto::notify("READY=1\nSTATUS=Serving on " + where);
    proto::start_watchdog(io);
    io.run();
    return 0;
}

int status(const std::vector<std::string>& argv) {
    proto::cli_args args(argv, {"config"}, {"json"});
    auto config = coordinator_config::load(args.required("config"));
    auto tls = proto::client_tls::trusting(proto::read_file(config.state_dir + "/ca.crt"));
    auto [host, port] = split_host_port(config.advertise, "advertise");
    auto result = proto::https_call_sync(tls->context(), {host, port}, boost::beast::http::verb::get, "/v1/nodes", "",
                                         std::chrono::seconds(10));
    if (result.status != 200)
        throw std::runtime_error("the coordinator at " + config.advertise + " answered " + std::to_string(result.status) +
                                 ": " + result.body);
    auto body = proto::parse_json(result.body);
    if (args.has("json")) {
        std::cout << body.dump(2) << "\n";
        return 0;
    }
    std::vector<proto::node_status> nodes;
    for (const auto& n : body.at("nodes")) nodes.push_back(proto::node_status::from_json(n));
    if (body.contains("cluster")) std::cout << format_cluster_summary(body["cluster"]);
    std::cout << format_status_table(nodes, proto::clock::now());
    return 0;
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
        throw proto::usage_error("unknown command '" + command + "'");
    });
}

}  // namespace graft::coordinator
