#pragma once
// The coordinator's config file (config.json in its state directory), written by `init` and read by every
// other command. Loading is strict: an unknown or mistyped field is an error naming the file and the field.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace graft::coordinator {

class join_backend;

struct join_config {
    std::string backend = "kubeadm";  // kubeadm | k3s | k0s | kubeadm-cli | static
    // static: the endpoint every node joins; kubeadm and k3s: overrides the one from cluster-info or the kubeconfig
    std::string api_server_endpoint;
    // static
    std::string token;
    std::vector<std::string> ca_cert_hashes;
    // kubeadm-cli (`kubeadm token create --print-join-command`) and k0s (`k0s token create --role=worker`)
    std::vector<std::string> command;
    std::chrono::seconds command_timeout{30};
    // kubeadm, k3s, k0s: how long a node's credential lasts
    std::chrono::seconds token_ttl{15 * 60};
    // k3s: hand every node the server's node-token instead of a per-node bootstrap token
    std::string k3s_token_file;
};

// Where the registry lives: the SQLite file in the state directory (one coordinator), or an etcd cluster that several
// coordinators share.
struct registry_config {
    std::string backend = "sqlite";  // sqlite | etcd
    std::vector<std::string> etcd_endpoints;  // https://HOST:PORT of each member
    std::string etcd_ca, etcd_cert, etcd_key;  // files: the CA etcd's certificates chain to, and graft's client identity
    std::string etcd_prefix = "/graft/default/";  // every key of this deployment starts with it
};

struct coordinator_config {
    std::string state_dir;
    std::string listen;     // HOST:PORT the server binds
    std::string advertise;  // HOST:PORT nodes dial; the server certificate names HOST
    std::string node_name_prefix = "node";
    std::chrono::hours certificate_lifetime{24 * 30};
    join_config join;
    // The cluster's admin kubeconfig: join credentials for kubeadm and k3s, version checks, and the Node watch.
    // Empty: no access to the Kubernetes API (the static and kubeadm-cli backends can do without).
    std::string kubeconfig;
    registry_config registry;

    static coordinator_config load(const std::string& path);
    std::string to_json_text() const;

    std::string database_path() const { return state_dir + "/registry.db"; }
    std::string advertise_url() const { return "https://" + advertise; }
};

class kube_connection;
// `kube` is null when config.json names no kubeconfig.
std::unique_ptr<join_backend> make_join_backend(const join_config& config, std::shared_ptr<kube_connection> kube);

// Splits HOST:PORT (IPv6 in brackets); throws std::invalid_argument naming `what`.
std::pair<std::string, std::string> split_host_port(const std::string& text, const std::string& what);

}  // namespace graft::coordinator
