#include "coordinator/config.hpp"

#include "coordinator/join/backend.hpp"
#include "coordinator/join/backend_table.hpp"
#include "proto/files.hpp"
#include "proto/json_fields.hpp"
#include "proto/messages.hpp"
#include "proto/pki.hpp"

#include <stdexcept>

namespace graft::coordinator {

std::pair<std::string, std::string> split_host_port(const std::string& text, const std::string& what) {
    std::string host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find("]:");
        if (close == std::string::npos) throw std::invalid_argument(what + ": expected [IPv6]:PORT, got '" + text + "'");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos) throw std::invalid_argument(what + ": expected HOST:PORT, got '" + text + "'");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    bool numeric = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
    if (host.empty() || !numeric || std::stoi(port) > 65535)
        throw std::invalid_argument(what + ": expected HOST:PORT with a port from 0 to 65535, got '" + text + "'");
    return {host, port};
}

coordinator_config coordinator_config::load(const std::string& path) {
    try {
        const proto::json document = proto::parse_json(proto::read_file(path));
        proto::object_reader r(document, "");
        coordinator_config c;
        c.state_dir = r.required_string("state_dir");
        c.listen = r.required_string("listen");
        split_host_port(c.listen, "field 'listen'");
        c.advertise = r.required_string("advertise");
        split_host_port(c.advertise, "field 'advertise'");
        c.node_name_prefix = r.optional_string("node_name_prefix").value_or("node");
        if (!proto::is_node_name(c.node_name_prefix + "-1") || c.node_name_prefix.size() > 40)
            throw proto::validation_error("node_name_prefix", "must be lowercase letters, digits and '-', at most 40");
        if (auto hours = r.optional_integer("certificate_lifetime_hours")) {
            if (*hours < 1 || *hours > 24 * 366)
                throw proto::validation_error("certificate_lifetime_hours", "expected 1 to 8784");
            c.certificate_lifetime = std::chrono::hours(*hours);
        }
        auto j = r.required_object("join");
        c.join.backend = j.required_string("backend");
        const backend_traits* backend = find_backend(c.join.backend);
        if (!backend)
            throw proto::validation_error("join.backend", "expected " + backend_names() + ", got \"" + c.join.backend + "\"");
        c.join.backend = backend->name;
        if (auto k = r.optional_object("kubernetes")) {
            c.kubeconfig = k->required_string("kubeconfig");
            k->finish();
        }
        if (backend->needs_kubeconfig && c.kubeconfig.empty())
            throw proto::validation_error("kubernetes.kubeconfig", "the " + c.join.backend + " join backend needs the "
                                          "cluster's admin kubeconfig, such as " + std::string(backend->default_kubeconfig));
        if (backend->api_server_endpoint) {
            auto ep = j.optional_string("api_server_endpoint");
            if (backend->static_token && !ep) j.required_string("api_server_endpoint");
            if (ep) {
                split_host_port(*ep, "field 'join.api_server_endpoint'");
                c.join.api_server_endpoint = *ep;
            }
        }
        if (backend->static_token) {
            c.join.token = j.required_string("token");
            if (!proto::is_bootstrap_token(c.join.token))
                throw proto::validation_error("join.token", "expected a kubeadm token [a-z0-9]{6}.[a-z0-9]{16}");
            c.join.ca_cert_hashes = j.string_list("ca_cert_hashes");
            if (c.join.ca_cert_hashes.empty())
                throw proto::validation_error("join.ca_cert_hashes", "needs the cluster CA's sha256:<hex> pin");
            for (const auto& h : c.join.ca_cert_hashes)
                if (!proto::is_spki_pin(h)) throw proto::validation_error("join.ca_cert_hashes", "'" + h + "' is not sha256:<64 hex>");
        }
        if (!backend->default_command.empty()) {
            c.join.command = j.string_list("command");
            if (c.join.command.empty())
                throw proto::validation_error("join.command", "needs a program and its arguments, such as " +
                                                                  std::string(backend->command_example));
            if (auto t = j.optional_integer("timeout_seconds")) {
                if (*t < 1 || *t > 600) throw proto::validation_error("join.timeout_seconds", "expected 1 to 600");
                c.join.command_timeout = std::chrono::seconds(*t);
            }
        }
        if (backend->token_ttl) {
            if (auto t = j.optional_integer("token_ttl_seconds")) {
                if (*t < 1 || *t > 24 * 3600) throw proto::validation_error("join.token_ttl_seconds", "expected 1 to 86400");
                c.join.token_ttl = std::chrono::seconds(*t);
            }
        }
        if (backend->flavour == proto::flavour::k3s && backend->needs_kubeconfig)
            c.join.k3s_token_file = j.optional_string("node_token_file").value_or("");
        j.finish();
        if (auto reg = r.optional_object("registry")) {
            c.registry.backend = reg->required_string("backend");
            if (c.registry.backend == "etcd") {
                c.registry.etcd_endpoints = reg->string_list("endpoints");
                if (c.registry.etcd_endpoints.empty())
                    throw proto::validation_error("registry.endpoints", "needs the https://HOST:PORT of at least one etcd member");
                for (const auto& url : c.registry.etcd_endpoints)
                    if (url.rfind("https://", 0) != 0)
                        throw proto::validation_error("registry.endpoints", "'" + url + "' is not https://HOST:PORT");
                c.registry.etcd_ca = reg->required_string("ca");
                c.registry.etcd_cert = reg->required_string("cert");
                c.registry.etcd_key = reg->required_string("key");
                c.registry.etcd_prefix = reg->optional_string("prefix").value_or(c.registry.etcd_prefix);
                if (c.registry.etcd_prefix.empty() || c.registry.etcd_prefix.front() != '/' || c.registry.etcd_prefix.back() != '/')
                    throw proto::validation_error("registry.prefix", "expected a key prefix that starts and ends with '/', "
                                                                     "such as /graft/default/");
            } else if (c.registry.backend != "sqlite") {
                throw proto::validation_error("registry.backend", "expected \"sqlite\" or \"etcd\", got \"" + c.registry.backend + "\"");
            }
            reg->finish();
        }
        r.finish();
        return c;
    } catch (const std::exception& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

std::string coordinator_config::to_json_text() const {
    proto::json j{{"state_dir", state_dir},
                  {"listen", listen},
                  {"advertise", advertise},
                  {"node_name_prefix", node_name_prefix},
                  {"certificate_lifetime_hours", certificate_lifetime.count()}};
    proto::json jn{{"backend", join.backend}};
    const backend_traits* backend = find_backend(join.backend);
    if (!join.api_server_endpoint.empty()) jn["api_server_endpoint"] = join.api_server_endpoint;
    if (backend && backend->static_token) {
        jn["token"] = join.token;
        jn["ca_cert_hashes"] = join.ca_cert_hashes;
    }
    if (backend && !backend->default_command.empty()) {
        jn["command"] = join.command;
        jn["timeout_seconds"] = join.command_timeout.count();
    }
    if (backend && backend->token_ttl) jn["token_ttl_seconds"] = join.token_ttl.count();
    if (!join.k3s_token_file.empty()) jn["node_token_file"] = join.k3s_token_file;
    j["join"] = jn;
    if (!kubeconfig.empty()) j["kubernetes"] = {{"kubeconfig", kubeconfig}};
    if (registry.backend == "etcd")
        j["registry"] = {{"backend", "etcd"}, {"endpoints", registry.etcd_endpoints}, {"ca", registry.etcd_ca},
                         {"cert", registry.etcd_cert}, {"key", registry.etcd_key}, {"prefix", registry.etcd_prefix}};
    return j.dump(2) + "\n";
}

std::unique_ptr<join_backend> make_join_backend(const join_config& config, std::shared_ptr<kube_connection> kube) {
    if (config.backend == "static")
        return make_static_backend(config.api_server_endpoint, config.token, config.ca_cert_hashes);
    if (config.backend == "kubeadm-cli") return make_command_backend(config.command, config.command_timeout);
    if (config.backend == "k0s") return make_k0s_backend(config.command, config.token_ttl, config.command_timeout, kube);
    bootstrap_token_settings settings;
    settings.ttl = config.token_ttl;
    settings.api_server_endpoint = config.api_server_endpoint;
    settings.k3s_token_file = config.k3s_token_file;
    if (!kube) throw std::invalid_argument("the " + config.backend + " join backend needs a kubeconfig");
    if (config.backend == "k3s") return make_k3s_backend(std::move(kube), settings);
    return make_kubeadm_backend(std::move(kube), settings);
}

}  // namespace graft::coordinator
