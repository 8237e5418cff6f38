#pragma once
// A small client of the Kubernetes API, for what the coordinator needs: the server's version, bootstrap-token
// Secrets, the cluster-info ConfigMap, and listing and watching Nodes. It speaks HTTPS with the kubeconfig's
// credentials (a client certificate or a bearer token) and verifies the API server against the kubeconfig's CA.
//
// Threads: the blocking calls may run on several threads at once (each makes its own connection on its own
// io_context); watch() runs on whatever executor awaits it.

#include "coordinator/kube/kubeconfig.hpp"
#include "proto/json_fields.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

namespace graft::coordinator {

// The API server could not be reached (status 0) or answered with an error status. what() names the server, the
// request and what to do; it never carries a credential.
struct kube_api_error : std::runtime_error {
    kube_api_error(unsigned code, const std::string& message) : std::runtime_error(message), status(code) {}
    unsigned status;
};

class kube_client {
public:
    // Throws std::runtime_error naming the kubeconfig when its CA, certificate or key is not usable PEM.
    explicit kube_client(kube_credentials credentials, std::chrono::seconds timeout = std::chrono::seconds(15));

    const kube_credentials& credentials() const { return credentials_; }

    proto::json get(const std::string& path);
    proto::json create(const std::string& path, const proto::json& object);
    // False when the object was already gone (404).
    bool remove(const std::string& path);
    // GET /version's gitVersion, such as "v1.29.3".
    std::string server_version();

    // GETs a streaming `path` (a watch) and calls `on_line` for every newline-terminated line of the body, until the
    // server ends the stream. Throws kube_api_error for a non-200 answer, boost::system::system_error when the
    // connection fails or stays silent for `idle_timeout`.
    boost::asio::awaitable<void> stream(std::string path, std::function<void(std::string_view)> on_line,
                                        std::chrono::seconds idle_timeout);

private:
    proto::json call(boost::beast::http::verb method, const std::string& path, const std::string& body);

    kube_credentials credentials_;
    std::chrono::seconds timeout_;
    std::unique_ptr<boost::asio::ssl::context> tls_;
};

// The client for a kubeconfig, made when first needed, again after a failed attempt, and again whenever the file
// has changed (another inode, size or modification time: `kubeadm certs renew` rewrites admin.conf), so a repaired
// or renewed kubeconfig is picked up without a restart. Safe to use from several threads.
class kube_connection {
public:
    explicit kube_connection(std::string kubeconfig_path) : path_(std::move(kubeconfig_path)) {}
    // Throws std::runtime_error naming the kubeconfig and the field when it cannot be used.
    std::shared_ptr<kube_client> client();
    const std::string& kubeconfig_path() const { return path_; }

private:
    struct file_stamp {
        unsigned long long inode = 0, size = 0;
        long long mtime_ns = 0;
        bool operator==(const file_stamp&) const = default;
    };
    file_stamp stamp() const;

    std::mutex mutex_;
    std::string path_;
    std::shared_ptr<kube_client> client_;
    file_stamp loaded_;
};

// The error for an API answer with status `status` to `what` (such as "GET /version"), saying what to do about it.
kube_api_error api_error(const kube_credentials& credentials, const std::string& what, unsigned status,
                         std::string_view body);

}  // namespace graft::coordinator
