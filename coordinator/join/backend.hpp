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

class join_backend {
public:
    virtual ~join_backend() = default;
    virtual proto::join_spec issue(const node_record& node, const proto::join_request& request) = 0;
};

// A join spec written into the coordinator's config by the operator (say, from a long-lived kubeadm token).
// Every node gets the same credential, so this suits demos, tests and small labs.
std::unique_ptr<join_backend> make_static_backend(std::string api_server_endpoint, std::string token,
                                                  std::vector<std::string> ca_cert_hashes);

// Runs `argv` (no shell) for each node, typically `kubeadm token create --print-join-command --ttl 15m`, and reads
// the endpoint, token and CA hashes from the `kubeadm join ...` line it prints. A `--ttl` in argv sets expires_at.
std::unique_ptr<join_backend> make_command_backend(std::vector<std::string> argv, std::chrono::seconds timeout);

struct kubeadm_join_line {
    std::string api_server_endpoint;
    std::string token;
    std::vector<std::string> ca_cert_hashes;
};
// Reads the `kubeadm join` command out of a program's output. Anything graft would not pass on faithfully
// (no such line, a control-plane join, an unknown flag, a malformed token or hash) is a join_error.
kubeadm_join_line parse_kubeadm_join_output(std::string_view output);

}  // namespace graft::coordinator
