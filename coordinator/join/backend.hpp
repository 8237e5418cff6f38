#pragma once
// Where join credentials come from. The router asks a backend for one join_spec per request; each backend
// decides how that credential is made. Implementations are safe to call from several threads and may block
// (the command backend runs a program), so the server calls them off its network threads.

#include "coordinator/store/registry.hpp"
#include "proto/messages.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace graft::coordinator {

// The backend could not produce a credential. what() is safe to show: it never carries a token.
struct join_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The node cannot join as it is (its kubelet or kubeadm version is outside the cluster's skew policy): asking again
// will not help until the node changes. what() says what to install.
struct join_refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class join_backend {
public:
    virtual ~join_backend() = default;
    // A credential for `node`. spec.credential_id, when set, names what revoke() takes back.
    virtual proto::join_spec issue(const node_record& node, const proto::join_request& request) = 0;
    // Takes back a credential issued earlier: the node is Ready, or a fresh credential replaces it. Throws join_error
    // when that fails; a credential already gone is not an error.
    virtual void revoke(const std::string& node_name, const std::string& credential_id) {
        (void)node_name;
        (void)credential_id;
    }
    // kubeadm, k3s or k0s: what the nodes of this backend run.
    virtual std::string flavour() const { return "kubeadm"; }
};

// A join spec written into the coordinator's config by the operator (say, from a long-lived kubeadm token).
// Every node gets the same credential, so this suits demos, tests and small labs.
std::unique_ptr<join_backend> make_static_backend(std::string api_server_endpoint, std::string token,
                                                  std::vector<std::string> ca_cert_hashes);

// Runs `argv` (no shell) for each node, typically `kubeadm token create --print-join-command --ttl 15m`, and reads
// the endpoint, token and CA hashes from the `kubeadm join ...` line it prints. A `--ttl` in argv sets expires_at.
std::unique_ptr<join_backend> make_command_backend(std::vector<std::string> argv, std::chrono::seconds timeout);

class kube_connection;

// Per node, a bootstrap-token Secret through the Kubernetes API (kubeadm's own mechanism, with
// `kubeadm token create` in-process), the API endpoint and CA pin from kube-public/cluster-info.
struct bootstrap_token_settings {
    std::chrono::seconds ttl{15 * 60};
    // HOST:PORT nodes dial; empty: the server named in cluster-info (kubeadm) or in the kubeconfig (k3s).
    std::string api_server_endpoint;
    // k3s only: a file holding the server's node-token, handed to every node instead of a per-node token.
    std::string k3s_token_file;
};
std::unique_ptr<join_backend> make_kubeadm_backend(std::shared_ptr<kube_connection> kube, bootstrap_token_settings settings);
// The same Secrets in k3s's group, handed out as k3s secure tokens K10<sha256 of the CA PEM>::<id>.<secret>
// (https://docs.k3s.io/cli/token).
std::unique_ptr<join_backend> make_k3s_backend(std::shared_ptr<kube_connection> kube, bootstrap_token_settings settings);
// Runs `command --expiry=TTL` (by default `k0s token create --role=worker`) per node and revokes with
// `k0s token invalidate ID`. With a kubeconfig, the node's versions are checked against the cluster's first.
std::unique_ptr<join_backend> make_k0s_backend(std::vector<std::string> command, std::chrono::seconds ttl,
                                               std::chrono::seconds timeout, std::shared_ptr<kube_connection> kube);

// What a k0s join token (base64 of a gzip-compressed kubeconfig) holds.
struct k0s_token_contents {
    std::string server;    // https://HOST:PORT
    std::string token_id;  // the bootstrap token's public half
};
k0s_token_contents read_k0s_token(std::string_view token);

// The last line of a program's output that is not blank, without its line end: what a CLI's answer or its error
// usually is.
std::string last_output_line(std::string_view output);

struct kubeadm_join_line {
    std::string api_server_endpoint;
    std::string token;
    std::vector<std::string> ca_cert_hashes;
};
// Reads the `kubeadm join` command out of a program's output. Anything graft would not pass on faithfully
// (no such line, a control-plane join, an unknown flag, a malformed token or hash) is a join_error.
kubeadm_join_line parse_kubeadm_join_output(std::string_view output);

}  // namespace graft::coordinator
