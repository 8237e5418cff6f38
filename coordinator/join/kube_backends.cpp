// The join backends that make a credential per node: kubeadm and k3s through bootstrap-token Secrets, k0s through
// its own CLI. Each checks the node's versions against the cluster's first.

#include "coordinator/join/backend.hpp"
#include "coordinator/join/skew.hpp"
#include "coordinator/kube/bootstrap_token.hpp"
#include "coordinator/kube/client.hpp"
#include "proto/crypto.hpp"
#include "proto/files.hpp"
#include "proto/pki.hpp"
#include "proto/subprocess.hpp"
#include "proto/time.hpp"

#include <yaml-cpp/yaml.h>
#include <zlib.h>

#include <system_error>

namespace graft::coordinator {
namespace {

// HOST:PORT of an https:// URL.
std::string endpoint_of(const std::string& server_url) {
    auto ep = proto::parse_https_url(server_url);
    const bool v6 = ep.host.find(':') != std::string::npos;
    return (v6 ? "[" + ep.host + "]" : ep.host) + ":" + ep.port;
}

bool is_loopback_host(const std::string& endpoint) {
    return endpoint.starts_with("127.") || endpoint.starts_with("localhost:") || endpoint.starts_with("[::1]");
}

std::shared_ptr<kube_client> connect(kube_connection& kube) {
    try {
        return kube.client();
    } catch (const std::exception& e) {
        throw join_error(e.what());
    }
}

// Refuses a node whose reported versions break the skew policy against the API server's version.
void check_versions(kube_client& client, const proto::join_request& request) {
    if (!request.kubelet_version && !request.kubeadm_version) return;
    const std::string server = client.server_version();
    auto version = parse_kube_version(server);
    if (!version) throw join_error("the API server reports version '" + server + "', which graft cannot read");
    if (auto problem = version_skew_problem(*version, request.kubelet_version, request.kubeadm_version); !problem.empty())
        throw join_refused(problem);
}

// The server URL and CA bundle in kube-public/cluster-info, which kubeadm publishes for token discovery.
struct cluster_info {
    std::string server;
    std::string ca_pem;
};

cluster_info read_cluster_info(kube_client& client) {
    const auto cm = client.get("/api/v1/namespaces/kube-public/configmaps/cluster-info");
    const std::string where = "kube-public/cluster-info";
    if (!cm.contains("data") || !cm["data"].contains("kubeconfig") || !cm["data"]["kubeconfig"].is_string())
        throw join_error(where + " has no data.kubeconfig; is this a kubeadm cluster? (`kubeadm init phase "
                         "bootstrap-token` publishes it)");
    try {
        YAML::Node root = YAML::Load(cm["data"]["kubeconfig"].get<std::string>());
        YAML::Node cluster = root["clusters"][0]["cluster"];
        cluster_info info;
        if (!cluster || !cluster["server"]) throw join_error(where + ": its kubeconfig names no clusters[0].cluster.server");
        info.server = cluster["server"].as<std::string>();
        if (cluster["certificate-authority-data"]) {
            auto ca = proto::base64_decode(cluster["certificate-authority-data"].as<std::string>());
            if (!ca) throw join_error(where + ": certificate-authority-data is not valid base64");
            info.ca_pem = *ca;
        }
        return info;
    } catch (const YAML::Exception& e) {
        throw join_error(where + ": its kubeconfig is not valid YAML: " + e.what());
    }
}

// SHA-256 pins of every certificate in a CA bundle, as kubeadm's --discovery-token-ca-cert-hash takes them.
std::vector<std::string> ca_pins(const std::string& ca_pem, const std::string& where) {
    std::vector<std::string> pins;
    try {
        for (const auto& cert : proto::certificates_from_pem(ca_pem)) pins.push_back(proto::spki_pin(*cert));
    } catch (const std::exception& e) {
        throw join_error(where + ": the cluster CA is not a PEM certificate: " + e.what());
    }
    if (pins.empty()) throw join_error(where + " holds no cluster CA certificate");
    return pins;
}

// kubeadm and k3s: one bootstrap-token Secret per node, in the flavour's group.
class bootstrap_token_backend final : public join_backend {
public:
    bootstrap_token_backend(std::string flavour, std::shared_ptr<kube_connection> kube, bootstrap_token_settings settings)
        : flavour_(std::move(flavour)), kube_(std::move(kube)), settings_(std::move(settings)) {}

    std::string flavour() const override { return flavour_; }

    proto::join_spec issue(const node_record& node, const proto::join_request& request) override {
        try {
            auto client = connect(*kube_);
            check_versions(*client, request);
            proto::join_spec spec;
            spec.node_name = node.name;
            spec.flavour = flavour_;
            std::string k3s_ca_hash;
            if (flavour_ == "kubeadm") kubeadm_discovery(*client, spec);
            else k3s_ca_hash = k3s_server(*client, spec);

            if (flavour_ == "k3s" && !settings_.k3s_token_file.empty()) {
                spec.token = node_token();
                return spec;  // the server's node-token: shared, long-lived, nothing per node to revoke
            }
            // A fresh credential replaces the last one, which must not stay usable.
            if (!node.join_credential.empty()) revoke(node.name, node.join_credential);
            const auto token = make_bootstrap_token();
            const auto expires = proto::clock::now() + settings_.ttl;
            const char* group = flavour_ == "kubeadm" ? kubeadm_node_group : k3s_node_group;
            client->create("/api/v1/namespaces/kube-system/secrets",
                            bootstrap_token_secret(token, expires, group, node.name));
            spec.token = flavour_ == "kubeadm" ? token.text() : "K10" + k3s_ca_hash + "::" + token.text();
            spec.expires_at = proto::to_rfc3339(expires);
            spec.credential_id = token.id;
            return spec;
        } catch (const kube_api_error& e) {
            throw join_error(e.what());
        }
    }

    void revoke(const std::string&, const std::string& credential_id) override {
        try {
            connect(*kube_)->remove("/api/v1/namespaces/kube-system/secrets/bootstrap-token-" + credential_id);
        } catch (const kube_api_error& e) {
            throw join_error(e.what());
        }
    }

private:
    void kubeadm_discovery(kube_client& client, proto::join_spec& spec) {
        std::string ca_pem = client.credentials().ca_pem;
        std::string server;
        try {
            auto info = read_cluster_info(client);
            server = info.server;
            if (!info.ca_pem.empty()) ca_pem = info.ca_pem;
        } catch (const kube_api_error& e) {
            if (e.status != 404 || settings_.api_server_endpoint.empty()) throw;
        }
        spec.api_server_endpoint = settings_.api_server_endpoint.empty() ? endpoint_of(server) : settings_.api_server_endpoint;
        spec.ca_cert_hashes = ca_pins(ca_pem, "the cluster CA of " + client.credentials().source);
    }

    // Sets the endpoint; returns the CA hash of k3s's secure token.
    std::string k3s_server(kube_client& client, proto::join_spec& spec) {
        spec.api_server_endpoint = settings_.api_server_endpoint.empty() ? endpoint_of(client.credentials().server)
                                                                         : settings_.api_server_endpoint;
        if (settings_.api_server_endpoint.empty() && is_loopback_host(spec.api_server_endpoint))
            throw join_error("the k3s server " + spec.api_server_endpoint + " from " + client.credentials().source +
                             " is a loopback address nodes cannot reach; set join.api_server_endpoint in config.json "
                             "to the server's HOST:6443 on the nodes' network");
        // As k3s hashes the server CA bundle it serves at /cacerts: its bytes, or a custom CA's root in DER.
        return proto::k3s_ca_hash(client.credentials().ca_pem);
    }

    std::string node_token() const {
        std::string t;
        try {
            t = proto::read_file(settings_.k3s_token_file);
        } catch (const std::exception& e) {
            throw join_error("the k3s node-token " + settings_.k3s_token_file + " cannot be read: " + e.what());
        }
        while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
        if (!t.starts_with("K10") || t.find("::") == std::string::npos)
            throw join_error(settings_.k3s_token_file + " does not hold a k3s secure token (K10<ca hash>::...)");
        return t;
    }

    const std::string flavour_;
    std::shared_ptr<kube_connection> kube_;
    const bootstrap_token_settings settings_;
};

std::string gunzip(std::string_view data) {
    z_stream z{};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw join_error("zlib inflateInit2 failed");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    std::string out;
    char buf[16 * 1024];
    int rc = Z_OK;
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
        if (out.size() > 1024 * 1024) rc = Z_DATA_ERROR;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END) throw join_error("the k0s token is not gzip-compressed data");
    return out;
}

class k0s_backend final : public join_backend {
public:
    k0s_backend(std::vector<std::string> command, std::chrono::seconds ttl, std::chrono::seconds timeout,
                std::shared_ptr<kube_connection> kube)
        : command_(std::move(command)), ttl_(ttl), timeout_(timeout), kube_(std::move(kube)) {}

    std::string flavour() const override { return "k0s"; }

    proto::join_spec issue(const node_record& node, const proto::join_request& request) override {
        if (kube_) {
            try {
                check_versions(*connect(*kube_), request);
            } catch (const kube_api_error& e) {
                throw join_error(e.what());
            }
        }
        if (!node.join_credential.empty()) revoke(node.name, node.join_credential);
        auto argv = command_;
        argv.push_back("--expiry=" + std::to_string(ttl_.count()) + "s");
        const auto issued = proto::clock::now();
        const std::string output = run(argv);
        const std::string token = last_output_line(output);
        k0s_token_contents contents = read_k0s_token(token);
        proto::join_spec spec;
        spec.node_name = node.name;
        spec.flavour = "k0s";
        spec.api_server_endpoint = endpoint_of(contents.server);
        spec.token = token;
        spec.expires_at = proto::to_rfc3339(issued + ttl_);
        spec.credential_id = contents.token_id;
        return spec;
    }

    void revoke(const std::string&, const std::string& credential_id) override {
        run({command_.at(0), "token", "invalidate", credential_id});
    }

private:
    std::string run(const std::vector<std::string>& argv) const {
        proto::process_result r;
        try {
            r = proto::run_process(argv, timeout_);
        } catch (const std::system_error& e) {
            throw join_error("k0s command '" + argv[0] + "': " + e.what());
        }
        if (r.timed_out) throw join_error("'" + argv[0] + " " + argv[1] + " " + argv[2] + "' did not finish within " +
                                          std::to_string(timeout_.count()) + "s");
        if (r.exit_code != 0)
            throw join_error("'" + argv[0] + " " + argv[1] + " " + argv[2] + "' exited with status " +
                             std::to_string(r.exit_code) + ": " + proto::redact_tokens(last_output_line(r.output)));
        return r.output;
    }

    std::vector<std::string> command_;
    std::chrono::seconds ttl_;
    std::chrono::seconds timeout_;
    std::shared_ptr<kube_connection> kube_;
};

}  // namespace

k0s_token_contents read_k0s_token(std::string_view token) {
    auto compressed = proto::base64_decode(token);
    if (!compressed || compressed->empty()) throw join_error("the k0s command printed no join token (base64) on its last line");
    const std::string yaml = gunzip(*compressed);
    try {
        YAML::Node root = YAML::Load(yaml);
        k0s_token_contents c;
        c.server = root["clusters"][0]["cluster"]["server"].as<std::string>("");
        const std::string bearer = root["users"][0]["user"]["token"].as<std::string>("");
        if (c.server.empty()) throw join_error("the k0s join token's kubeconfig names no server");
        if (!proto::is_bootstrap_token(bearer)) throw join_error("the k0s join token holds no bootstrap token");
        c.token_id = bearer.substr(0, 6);
        return c;
    } catch (const YAML::Exception& e) {
        throw join_error(std::string("the k0s join token is not a kubeconfig: ") + e.what());
    }
}

std::unique_ptr<join_backend> make_kubeadm_backend(std::shared_ptr<kube_connection> kube, bootstrap_token_settings settings) {
    return std::make_unique<bootstrap_token_backend>("kubeadm", std::move(kube), std::move(settings));
}

std::unique_ptr<join_backend> make_k3s_backend(std::shared_ptr<kube_connection> kube, bootstrap_token_settings settings) {
    return std::make_unique<bootstrap_token_backend>("k3s", std::move(kube), std::move(settings));
}

std::unique_ptr<join_backend> make_k0s_backend(std::vector<std::string> command, std::chrono::seconds ttl,
                                               std::chrono::seconds timeout, std::shared_ptr<kube_connection> kube) {
    if (command.empty()) throw std::invalid_argument("the k0s join backend needs a command");
    return std::make_unique<k0s_backend>(std::move(command), ttl, timeout, std::move(kube));
}

}  // namespace graft::coordinator
