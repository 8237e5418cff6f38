#include "coordinator/operate.hpp"

#include "coordinator/config.hpp"
#include "coordinator/enroll/authority.hpp"
#include "coordinator/status/table.hpp"
#include "proto/cli.hpp"
#include "proto/files.hpp"
#include "proto/https_client.hpp"
#include "proto/log.hpp"
#include "proto/pki.hpp"
#include "proto/tls.hpp"
#include "proto/version.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <thread>
#include <unistd.h>

namespace graft::coordinator {
namespace {

namespace fs = std::filesystem;
using verb = boost::beast::http::verb;

constexpr const char* operator_usage = R"(usage: graft-coordinator operator add NAME --config FILE [--out FILE] [--lifetime DURATION]

Issue an operator's client certificate and write a credentials file holding the coordinator's URL, its CA, the
certificate and its key (mode 0600). With it, `get`, `describe`, `logs` and the dashboard read the fleet from any
machine that reaches the coordinator. A node's certificate cannot do this, nor an operator's speak for a node.

  --config FILE        the coordinator's config.json (run as root on the coordinator: it reads the CA key)
  --out FILE           where to write the credentials (default: ~/.config/graft/NAME.json); an existing file is
                       never overwritten
  --lifetime DURATION  how long the certificate lasts (default: 90d)
)";

constexpr const char* credentials_help = R"(
Who is asking (the first that applies):
  --credentials FILE   an operator's credentials file from `graft-coordinator operator add`
  $GRAFT_CREDENTIALS   the same, from the environment
  --config FILE        root on the coordinator: a certificate signed for ten minutes with the CA key
  ~/.config/graft/     the one credentials file there
  /var/lib/graft-coordinator/config.json, when readable (root on a packaged coordinator)
)";

constexpr const char* get_usage = R"(usage: graft-coordinator get nodes [-o wide|json|yaml] [--watch] [--phase PHASE]

List the nodes: name, phase, the cluster's word on the Node, address, when its agent was last heard from, age
and the reason it is where it is. The table fits 120 columns; a reason cut to fit is whole in `describe`,
`-o wide`, `-o json` and `-o yaml`.

  -o, --output FORMAT  wide (more columns, nothing cut), json or yaml
  -w, --watch          after the list, print each change as it happens, until interrupted
  --phase PHASE        only nodes in this phase (failed, joining, ready, ...)
)";

constexpr const char* describe_usage = R"(usage: graft-coordinator describe node NAME [-o json|yaml]

Everything the coordinator knows of one node: its facts, its phase and the whole reason, each phase it passed
through with its time, what each host-preparation step came to, its join credential (id, issue and expiry,
revoked once Ready), the cluster's word on it, and the journal excerpts it sent.

  -o, --output FORMAT  json or yaml instead of text
)";

constexpr const char* logs_usage = R"(usage: graft-coordinator logs NODE [-u UNIT] [-n LINES] [--since DURATION] [-f]

Print the journal excerpts a node sent: the last lines of kubelet, the container runtime, k3s-agent, k0sworker
and graft-agent, sent unasked after a failed step or join, or when asked with --fresh. Nothing is read on the
node over SSH; the agent sent them (secrets redacted) over its own certificate.

  -u, --unit UNIT       only this unit's excerpts (kubelet, containerd, graft-agent, ...)
  -n, --lines LINES     the last LINES lines of each excerpt (default: all kept, at most 500)
  --since DURATION      only excerpts captured within DURATION (Go's form: 90s, 1h30m, 24h0m0s; or 7d)
  --fresh               ask the node's agent for new excerpts now and wait for them (up to 90 s)
  -f, --follow          keep printing excerpts as the node sends them, until interrupted
)";

constexpr const char* dashboard_usage = R"(usage: graft-coordinator dashboard

Print a link that signs a browser in to the dashboard at the coordinator's address: the fleet at a glance, each
node's timeline from flashed to ready, its step outcomes, the whole reason and its journal excerpts, updated live.
The link works once, within five minutes; the browser's session then lasts twelve hours. It carries a secret
only in its fragment (after #), which browsers never send to a server. Your browser must trust the coordinator's
CA (ca.crt in its state directory) or be told to accept its certificate.
)";

constexpr const char* version_usage = R"(usage: graft-coordinator version [--client]

Print this program's version and, unless --client, the version of the coordinator it reaches.
)";

// What stands for whom: the coordinator's address, the trust in it, and the identity shown to it.
struct fleet_connection {
    proto::https_endpoint endpoint;
    std::string url;
    std::string source;  // where the identity came from, for errors
    std::unique_ptr<proto::client_tls> tls;
};

std::string home_config_dir() {
    const char* home = std::getenv("HOME");
    return std::string(home && *home ? home : "/root") + "/.config/graft";
}

fleet_connection from_credentials(const std::string& path) {
    proto::json j;
    try {
        j = proto::parse_json(proto::read_file(path));
    } catch (const proto::validation_error& e) {
        throw std::runtime_error(path + " is not an operator credentials file: " + e.what());
    }
    fleet_connection c;
    c.source = path;
    try {
        proto::object_reader r(j, "");
        c.url = r.required_string("coordinator");
        const std::string ca = r.required_string("ca"), cert = r.required_string("certificate"),
                          key = r.required_string("key");
        r.optional_string("operator");
        r.optional_string("expires_at");
        r.finish();
        c.endpoint = proto::parse_https_url(c.url);
        c.tls = proto::client_tls::trusting(ca);
        c.tls->use_identity(cert, key);
    } catch (const proto::validation_error& e) {
        throw std::runtime_error(path + ": " + e.what() + "; write it again with `graft-coordinator operator add`");
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(path + ": field 'coordinator': " + e.what());
    }
    return c;
}

// Root on the coordinator signs itself a short-lived operator certificate with the CA key it can read.
fleet_connection from_config(const std::string& path) {
    auto config = coordinator_config::load(path);
    certificate_authority ca = [&] {
        try {
            return certificate_authority::load(config.state_dir);
        } catch (const std::exception& e) {
            throw std::runtime_error(std::string(e.what()) + ": --config reads the CA key, which only root on the "
                                     "coordinator can; elsewhere, use --credentials FILE from `operator add`");
        }
    }();
    auto key = proto::generate_p256_key();
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    auto cert = ca.sign_operator(*key, std::string("root@") + host, std::chrono::minutes(10));
    fleet_connection c;
    c.source = path;
    c.url = config.advertise_url();
    c.endpoint = proto::parse_https_url(c.url);
    c.tls = proto::client_tls::trusting(ca.ca_pem());
    c.tls->use_identity(*cert, *key);
    return c;
}

fleet_connection connect_as_operator(const proto::cli_args& args) {
    if (auto path = args.value("credentials")) return from_credentials(*path);
    if (const char* env = std::getenv("GRAFT_CREDENTIALS"); env && *env) return from_credentials(env);
    if (auto path = args.value("config")) return from_config(*path);
    std::error_code ec;
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator(home_config_dir(), ec))
        if (entry.path().extension() == ".json") found.push_back(entry.path().string());
    if (found.size() == 1) return from_credentials(found.front());
    if (found.size() > 1)
        throw proto::usage_error(home_config_dir() + " holds " + std::to_string(found.size()) +
                                 " credentials files; choose one with --credentials FILE");
    const std::string packaged = "/var/lib/graft-coordinator/config.json";
    if (::access(packaged.c_str(), R_OK) == 0) return from_config(packaged);
    throw proto::usage_error("no operator credentials: give --credentials FILE (made by `graft-coordinator operator add "
                             "NAME` on the coordinator), or run as root on the coordinator with --config FILE");
}

// One call, with errors an operator can act on: where it failed and what to check, never a library's internals.
proto::http_result call(fleet_connection& c, verb method, const std::string& target, const std::string& body = {}) {
    try {
        return proto::https_call_sync(c.tls->context(), c.endpoint, method, target, body, std::chrono::seconds(15));
    } catch (const boost::system::system_error& e) {
        const std::string where = c.url + " (from " + c.source + ")";
        if (e.code().category() == boost::asio::error::get_ssl_category() ||
            e.code() == boost::asio::ssl::error::stream_truncated)
            throw std::runtime_error("the TLS handshake with " + where + " failed (" + e.code().message() +
                                     "): the coordinator there is not the one these credentials trust, or it refused "
                                     "the certificate (expired, or not one of its operators'); make new credentials "
                                     "with `graft-coordinator operator add`");
        throw std::runtime_error("cannot reach the coordinator at " + where + ": " + e.code().message() +
                                 "; check that `graft-coordinator serve` runs there and that this machine reaches "
                                 "that address and port");
    }
}

proto::json answer_json(const fleet_connection& c, const proto::http_result& r) {
    if (r.status < 200 || r.status >= 300) {
        std::string message = r.body;
        try {
            message = proto::error_body::from_json(proto::parse_json(r.body)).message;
        } catch (const std::exception&) {
        }
        throw std::runtime_error("the coordinator at " + c.url + " answered " + std::to_string(r.status) + ": " +
                                 proto::escape_for_display(message));
    }
    return proto::parse_json(r.body);
}

// Short flags as kubectl spells them, made long for cli_args; the words that are not flags, in order.
std::vector<std::string> positional(std::vector<std::string>& argv, const std::map<std::string, std::string>& shorts,
                                    const std::set<std::string>& with_value) {
    std::vector<std::string> flags, words;
    for (std::size_t i = 0; i < argv.size(); ++i) {
        std::string a = argv[i];
        if (auto s = shorts.find(a); s != shorts.end()) a = "--" + s->second;
        if (a.starts_with("--")) {
            flags.push_back(a);
            const std::string name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
            if (with_value.contains(name) && a.find('=') == std::string::npos && i + 1 < argv.size())
                flags.push_back(argv[++i]);
        } else if (a.starts_with("-") && a.size() > 1) {
            throw proto::usage_error("unknown option " + a);
        } else {
            words.push_back(a);
        }
    }
    argv = std::move(flags);
    return words;
}

// JSON as YAML: mappings and sequences in block style, every string double-quoted (JSON's escapes are YAML's).
void write_yaml(std::ostream& out, const proto::json& v, int indent, bool in_sequence) {
    const std::string pad(static_cast<std::size_t>(indent), ' ');
    auto scalar = [](const proto::json& s) { return s.dump(-1, ' ', false, proto::json::error_handler_t::replace); };
    if (v.is_object()) {
        if (v.empty()) {
            out << " {}\n";
            return;
        }
        bool first = true;
        if (!in_sequence) out << "\n";
        for (const auto& [key, value] : v.items()) {
            out << (first && in_sequence ? std::string(" ") : pad) << proto::json(key).dump() << ":";
            first = false;
            if (value.is_structured() && !value.empty()) write_yaml(out, value, indent + 2, false);
            else if (value.is_structured()) out << (value.is_array() ? " []\n" : " {}\n");
            else out << " " << scalar(value) << "\n";
        }
    } else if (v.is_array()) {
        if (v.empty()) {
            out << " []\n";
            return;
        }
        out << "\n";
        for (const auto& item : v) {
            out << pad << "-";
            if (item.is_object() && !item.empty()) write_yaml(out, item, indent + 2, true);
            else if (item.is_structured()) write_yaml(out, item, indent + 2, false);
            else out << " " << scalar(item) << "\n";
        }
    } else {
        out << " " << scalar(v) << "\n";
    }
}

void print_as(const std::string& format, const proto::json& v) {
    if (format == "json") {
        std::cout << v.dump(2, ' ', false, proto::json::error_handler_t::replace) << "\n";
    } else {
        std::cout << "---";
        write_yaml(std::cout, v, 0, false);
    }
}

std::string output_flag(const proto::cli_args& args, const std::set<std::string>& allowed) {
    const std::string format = args.value("output").value_or("");
    if (!format.empty() && !allowed.contains(format)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        throw proto::usage_error("--output must be one of " + list + ", got '" + proto::escape_for_display(format) + "'");
    }
    return format;
}

std::string ago(const std::string& when, proto::clock::time_point now) {
    auto t = proto::from_rfc3339(when);
    if (!t) return "";
    return when + " (" + proto::short_age(std::chrono::duration_cast<std::chrono::seconds>(now - *t)) + " ago)";
}

// What `describe` prints fits this many columns.
constexpr std::size_t describe_width = 118;

// Text wrapped to `describe_width`, continuation lines indented by `indent` (the label before it).
std::string wrapped(const std::string& text, std::size_t indent) { return wrap_text(text, indent, describe_width); }

void print_list(fleet_connection& c, const std::string& format, const std::string& phase) {
    std::string target = "/v1/nodes";
    if (!phase.empty()) target += "?phase=" + phase;
    std::vector<proto::json> all;
    proto::json cluster;
    // A large fleet comes in pages; the whole list is printed at once.
    for (std::string next;;) {
        std::string page = target + (phase.empty() ? "?" : "&") + "limit=1000" + (next.empty() ? "" : "&continue=" + next);
        auto body = answer_json(c, call(c, verb::get, page));
        for (auto& n : body.at("nodes")) all.push_back(std::move(n));
        if (body.contains("cluster")) cluster = body["cluster"];
        next = body.at("metadata").value("continue", "");
        if (next.empty()) break;
    }
    if (format == "json" || format == "yaml") {
        proto::json out{{"nodes", all}};
        if (!cluster.is_null()) out["cluster"] = cluster;
        print_as(format, out);
        return;
    }
    std::vector<proto::node_status> nodes;
    for (const auto& n : all) nodes.push_back(proto::node_status::from_json(n));
    if (!cluster.is_null()) std::cout << format_cluster_summary(cluster);
    std::cout << format_status_table(nodes, proto::clock::now(), format == "wide");
}

// Follows GET /v1/nodes?watch=true, printing a row (or a JSON line) per event until the stream ends.
int watch_nodes(fleet_connection& c, const std::string& format, const std::string& phase) {
    std::string target = "/v1/nodes?watch=true";
    if (!phase.empty()) target += "&phase=" + phase;
    std::string pending;
    bool header = format != "json" && format != "yaml";
    auto on_event = [&](const std::string& kind, const std::string& data) {
        if (kind == "ERROR") throw std::runtime_error("the watch ended: " + data);
        auto node = proto::parse_json(data);
        if (format == "json") {
            std::cout << proto::json{{"type", kind}, {"object", node}}.dump() << std::endl;
            return;
        }
        if (format == "yaml") {
            print_as("yaml", proto::json{{"type", kind}, {"object", node}});
            std::cout.flush();
            return;
        }
        auto status = proto::node_status::from_json(node);
        if (kind == "DELETED") status.phase += " (deleted)";
        std::string table = format_status_table({status}, proto::clock::now(), format == "wide");
        if (!header) table = table.substr(table.find('\n') + 1);
        header = false;
        std::cout << table << std::flush;
    };
    auto on_data = [&](std::string_view data) {
        pending += data;
        for (auto end = pending.find("\n\n"); end != std::string::npos; end = pending.find("\n\n")) {
            const std::string block = pending.substr(0, end);
            pending.erase(0, end + 2);
            std::string kind = "message", payload;
            std::size_t start = 0;
            while (start <= block.size()) {
                auto nl = block.find('\n', start);
                const std::string line = block.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
                if (line.starts_with("event: ")) kind = line.substr(7);
                else if (line.starts_with("data: ")) payload += line.substr(6);
                if (nl == std::string::npos) break;
                start = nl + 1;
            }
            if (!payload.empty()) on_event(kind, payload);
        }
        return true;
    };
    unsigned status = 0;
    try {
        boost::asio::io_context io;
        auto done = boost::asio::co_spawn(
            io, proto::https_stream(c.tls->context(), c.endpoint, target, std::chrono::seconds(60), on_data),
            boost::asio::use_future);
        io.run();
        status = done.get();
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("the watch of " + c.url + " (from " + c.source + ") broke off: " + e.code().message() +
                                 "; check that `graft-coordinator serve` still runs there");
    }
    if (status != 200) answer_json(c, {status, pending, {}});
    return 0;
}

}  // namespace

const std::map<std::string, const char*>& operate_usages() {
    // The commands that read the fleet say how they find out who is asking.
    static const std::string get = std::string(get_usage) + credentials_help,
                             describe = std::string(describe_usage) + credentials_help,
                             logs = std::string(logs_usage) + credentials_help,
                             version = std::string(version_usage) + credentials_help,
                             dashboard = std::string(dashboard_usage) + credentials_help;
    static const std::map<std::string, const char*> usages{
        {"operator", operator_usage}, {"get", get.c_str()}, {"describe", describe.c_str()}, {"logs", logs.c_str()},
        {"version", version.c_str()}, {"dashboard", dashboard.c_str()}};
    return usages;
}

int operator_command(const std::vector<std::string>& argv_in) {
    std::vector<std::string> argv = argv_in;
    auto words = positional(argv, {}, {"config", "out", "lifetime"});
    if (words.size() != 2 || words[0] != "add")
        throw proto::usage_error("operator takes `add NAME`: graft-coordinator operator add NAME --config FILE");
    const std::string& name = words[1];
    if (!proto::is_node_name(name))
        throw proto::usage_error("'" + proto::escape_for_display(name) +
                                 "' is not an operator name: lowercase letters, digits and '-', at most 63");
    proto::cli_args args(argv, {"config", "out", "lifetime"}, {});
    auto config = coordinator_config::load(args.required("config"));
    std::chrono::seconds lifetime = std::chrono::hours(24 * 90);
    if (auto v = args.value("lifetime")) {
        auto d = proto::parse_duration(*v);
        if (!d) throw proto::usage_error("--lifetime must be a duration such as 90d, 720h or 24h0m0s, got '" + *v + "'");
        lifetime = *d;
    }
    const std::string out = args.value("out").value_or(home_config_dir() + "/" + name + ".json");
    // Nothing is lost: an operator's existing credentials stay as they are.
    if (fs::exists(out))
        throw std::runtime_error(out + " already exists; remove it first, or write elsewhere with --out FILE");
    auto ca = certificate_authority::load(config.state_dir);
    auto key = proto::generate_p256_key();
    auto cert = ca.sign_operator(*key, name, lifetime);
    proto::json credentials{{"operator", name},
                            {"coordinator", config.advertise_url()},
                            {"ca", ca.ca_pem()},
                            {"certificate", proto::certificate_pem(*cert)},
                            {"key", proto::private_key_pem(*key)},
                            {"expires_at", proto::to_rfc3339(proto::not_after(*cert))}};
    const fs::path parent = fs::path(out).parent_path();
    if (!parent.empty() && !fs::exists(parent)) {
        fs::create_directories(parent);
        fs::permissions(parent, fs::perms::owner_all);
    }
    proto::write_file_atomic(out, credentials.dump(2) + "\n", 0600);
    std::cout << "operator " << name << ": credentials written to " << out << " (mode 0600, valid until "
              << credentials["expires_at"].get<std::string>() << ")\n"
              << "Read the fleet with them from any machine that reaches " << config.advertise_url() << ":\n"
              << "  graft-coordinator get nodes --credentials " << out << "\n"
              << "The file holds a private key: copy it only to where the operator works.\n";
    proto::log_info("issued operator credentials for " + name + " (certificate serial " + proto::serial_hex(*cert) + ")");
    return 0;
}

int get_command(const std::vector<std::string>& argv_in) {
    std::vector<std::string> argv = argv_in;
    const std::set<std::string> with_value{"output", "phase", "credentials", "config"};
    auto words = positional(argv, {{"-o", "output"}, {"-w", "watch"}}, with_value);
    if (words.empty() || (words[0] != "nodes" && words[0] != "node" && words[0] != "no"))
        throw proto::usage_error("get lists nodes: graft-coordinator get nodes [-o wide|json|yaml] [--watch]");
    if (words.size() > 1) throw proto::usage_error("get nodes takes no names; `describe node NAME` shows one node");
    proto::cli_args args(argv, with_value, {"watch"});
    const std::string format = output_flag(args, {"wide", "json", "yaml"});
    const std::string phase = args.value("phase").value_or("");
    if (!phase.empty() && !proto::phase_from_string(phase))
        throw proto::usage_error("--phase '" + proto::escape_for_display(phase) + "' is not a phase");
    auto c = connect_as_operator(args);
    if (args.has("watch")) return watch_nodes(c, format, phase);
    print_list(c, format, phase);
    return 0;
}

int describe_command(const std::vector<std::string>& argv_in) {
    std::vector<std::string> argv = argv_in;
    const std::set<std::string> with_value{"output", "credentials", "config"};
    auto words = positional(argv, {{"-o", "output"}}, with_value);
    if (words.size() != 2 || (words[0] != "node" && words[0] != "nodes"))
        throw proto::usage_error("describe shows one node: graft-coordinator describe node NAME");
    const std::string& name = words[1];
    if (!proto::is_node_name(name)) throw proto::usage_error("'" + proto::escape_for_display(name) + "' is not a node name");
    proto::cli_args args(argv, with_value, {});
    const std::string format = output_flag(args, {"json", "yaml"});
    auto c = connect_as_operator(args);
    const auto d = answer_json(c, call(c, verb::get, "/v1/nodes/" + name + "/details"));
    if (!format.empty()) {
        print_as(format, d);
        return 0;
    }
    const auto now = proto::clock::now();
    const auto status = proto::node_status::from_json(d.at("status"));
    const auto& facts = d.at("facts");
    auto fact = [&](const char* key) {
        return facts.contains(key) && facts[key].is_string() && !facts[key].get<std::string>().empty()
                   ? proto::escape_for_display(facts[key].get<std::string>())
                   : std::string("-");
    };
    auto row = [](const std::string& label, const std::string& value) {
        std::cout << label << std::string(label.size() < 18 ? 18 - label.size() : 1, ' ') << value << "\n";
    };
    auto e = [](const std::string& s) { return s.empty() ? std::string("-") : proto::escape_for_display(s); };
    row("Name:", e(status.name));
    row("Phase:", e(status.phase));
    if (!status.reason.empty()) row("Reason:", wrapped(status.reason, 18));
    if (!status.conflict.empty()) row("Conflict:", wrapped(status.conflict, 18));
    row("Cluster says:", !status.readiness_tracked ? "- (the coordinator has no kubeconfig)"
                         : status.readiness.empty() ? "nothing yet (no Node of this name reported)"
                                                    : e(status.readiness));
    row("Address:", e(status.address));
    row("Last seen:", status.last_seen.empty() ? "- (not since the coordinator started)" : ago(status.last_seen, now));
    row("Enrolled:", ago(status.enrolled_at, now));
    row("Model:", fact("model"));
    row("Arch:", fact("arch"));
    row("Serial:", fact("serial"));
    row("Machine ID:", fact("machine_id"));
    row("OS:", fact("os"));
    row("Kernel:", fact("kernel"));
    if (facts.contains("kubelet_version")) row("Kubelet:", fact("kubelet_version"));

    const auto& join = d.at("join");
    std::cout << "Join credential:\n";
    if (join.empty()) {
        std::cout << "  (none issued yet)\n";
    } else {
        auto j = [&](const char* key) { return e(join.value(key, "")); };
        row("  Command:", wrapped(join.value("command", ""), 18));
        row("  Issued:", ago(join.value("issued_at", ""), now));
        if (join.value("revoked", false)) row("  Credential:", "revoked (the node became Ready; it has done its job)");
        else if (join.value("credential", "").empty())
            row("  Credential:", "no id of its own (a shared token, or a backend that names none): graft cannot revoke it");
        else row("  Credential:", j("credential") + ", expires " + j("expires_at"));
    }

    std::cout << "Host preparation:\n";
    if (d.at("steps").empty()) {
        std::cout << "  (no step outcomes reported yet)\n";
    } else {
        std::vector<std::vector<std::string>> rows{{"  STEP", "OUTCOME", "DETAIL"}};
        for (const auto& s : d.at("steps"))
            rows.push_back({"  " + s.value("step", ""), s.value("outcome", ""), s.value("detail", "")});
        std::cout << format_table(std::move(rows), describe_width);
    }

    std::cout << "History:\n";
    std::vector<std::vector<std::string>> history{{"  TIME", "PHASE", "REASON"}};
    for (const auto& h : d.at("history"))
        history.push_back({"  " + h.value("at", ""), h.value("phase", ""), h.value("reason", "")});
    std::cout << format_table(std::move(history), describe_width);

    std::cout << "Journal excerpts:\n";
    if (d.at("journal").empty()) {
        std::cout << "  (none: a node sends them after a failed step or join, or when asked with `logs "
                  << status.name << " --fresh`)\n";
    } else {
        std::vector<std::vector<std::string>> rows{{"  UNIT", "CAPTURED", "LINES", "WHY"}};
        for (const auto& j : d.at("journal"))
            rows.push_back({"  " + j.value("unit", ""), j.value("captured_at", ""),
                            std::to_string(j.value("lines", 0)), j.value("cause", "")});
        std::cout << format_table(std::move(rows), describe_width) << "  (graft-coordinator logs " << status.name << " -u UNIT)\n";
    }
    return 0;
}

int logs_command(const std::vector<std::string>& argv_in) {
    std::vector<std::string> argv = argv_in;
    const std::set<std::string> with_value{"unit", "lines", "since", "credentials", "config"};
    auto words = positional(argv, {{"-u", "unit"}, {"-n", "lines"}, {"-f", "follow"}}, with_value);
    if (words.size() != 1) throw proto::usage_error("logs takes one node: graft-coordinator logs NODE [-u UNIT]");
    const std::string& name = words[0];
    if (!proto::is_node_name(name)) throw proto::usage_error("'" + proto::escape_for_display(name) + "' is not a node name");
    proto::cli_args args(argv, with_value, {"follow", "fresh"});
    std::string query;
    if (auto unit = args.value("unit")) {
        if (!proto::is_unit_name(*unit))
            throw proto::usage_error("--unit '" + proto::escape_for_display(*unit) + "' is not a systemd unit name");
        query += "&unit=" + *unit;
    }
    if (args.value("lines"))
        query += "&lines=" + std::to_string(args.number("lines", 0, 1, static_cast<long long>(proto::max_journal_lines)));
    std::optional<std::chrono::seconds> since;
    if (auto v = args.value("since")) {
        since = proto::parse_duration(*v);
        if (!since) throw proto::usage_error("--since must be a duration such as 90s, 1h30m, 24h0m0s or 7d, got '" + *v + "'");
    }
    auto c = connect_as_operator(args);
    const std::string target = "/v1/nodes/" + name + "/journal" + (query.empty() ? "" : "?" + query.substr(1));

    std::set<std::string> shown;  // unit + capture time: what was printed already, when following
    auto print_new = [&](bool first) {
        auto body = answer_json(c, call(c, verb::get, target));
        std::size_t printed = 0;
        for (const auto& x : body.at("excerpts")) {
            const std::string key = x.value("unit", "") + " " + x.value("captured_at", "");
            if (shown.contains(key)) continue;
            shown.insert(key);
            if (since)
                if (auto at = proto::from_rfc3339(x.value("captured_at", "")); at && *at < proto::clock::now() - *since)
                    continue;
            ++printed;
            std::cout << "-- " << proto::escape_for_display(x.value("unit", "")) << " on " << name << ", captured "
                      << proto::escape_for_display(x.value("captured_at", "")) << " ("
                      << proto::escape_for_display(x.value("cause", "")) << ")"
                      << (x.value("truncated", false) ? ", earlier lines left out" : "") << " --\n";
            for (const auto& line : x.at("lines")) std::cout << proto::escape_for_display(line.get<std::string>()) << "\n";
        }
        if (first && printed == 0)
            std::cout << "(no journal excerpts from " << name
                      << (args.value("unit") ? " for that unit" : "") << (since ? " in that time" : "")
                      << " yet: a node sends them after a failed step or join, or when asked with --fresh)\n";
        std::cout.flush();
    };
    if (args.has("fresh")) {
        auto asked = answer_json(c, call(c, verb::post, "/v1/nodes/" + name + "/journal-requests",
                                         proto::json{{"unit", args.value("unit").value_or("")}}.dump()));
        const std::string id = asked.value("id", "");
        std::cerr << "asked " << name << "'s agent for its journal (request " << id << "); waiting for it...\n";
        // Whatever is kept now is not what was asked for: only what comes after is printed.
        const auto kept = answer_json(c, call(c, verb::get, target));  // named: a loop over a temporary's member dangles
        for (const auto& x : kept.at("excerpts")) shown.insert(x.value("unit", "") + " " + x.value("captured_at", ""));
        for (int waited = 0;; waited += 2) {
            auto state = answer_json(c, call(c, verb::get, "/v1/nodes/" + name + "/journal-requests/" + id));
            if (state.value("state", "") == "answered") break;
            if (waited >= 90)
                throw std::runtime_error(name + "'s agent has not answered in 90 s; it picks requests up with its heartbeat "
                                         "(every 30 s) while it runs: check `describe node " + name + "` for when it was "
                                         "last seen");
            std::this_thread::sleep_for(std::chrono::seconds(2));
        }
        print_new(false);
        if (!args.has("follow")) return 0;
    } else {
        print_new(true);
    }
    while (args.has("follow")) {
        std::this_thread::sleep_for(std::chrono::seconds(2));
        print_new(false);
    }
    return 0;
}

int dashboard_command(const std::vector<std::string>& argv_in) {
    std::vector<std::string> argv = argv_in;
    const std::set<std::string> with_value{"credentials", "config"};
    if (!positional(argv, {}, with_value).empty()) throw proto::usage_error("dashboard takes no arguments");
    proto::cli_args args(argv, with_value, {});
    auto c = connect_as_operator(args);
    const auto grant = answer_json(c, call(c, verb::post, "/v1/dashboard/sessions", "{}"));
    std::cout << "Open this link within five minutes (it works once):\n  " << c.url << "/#login="
              << grant.value("token", "") << "\n";
    return 0;
}

int version_command(const std::vector<std::string>& argv_in) {
    std::vector<std::string> argv = argv_in;
    const std::set<std::string> with_value{"credentials", "config"};
    positional(argv, {}, with_value);
    proto::cli_args args(argv, with_value, {"client"});
    std::cout << "client: graft-coordinator " << proto::graft_version << " (protocol " << proto::protocol_version << ")\n";
    if (args.has("client")) return 0;
    auto c = connect_as_operator(args);
    const auto health = answer_json(c, call(c, verb::get, "/healthz"));
    std::cout << "coordinator at " << c.url << ": graft-coordinator "
              << proto::escape_for_display(health.value("version", "(unknown)")) << " (protocol "
              << health.value("protocol", 0) << ")\n";
    return 0;
}

}  // namespace graft::coordinator
