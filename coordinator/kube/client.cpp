#include "coordinator/kube/client.hpp"

#include "proto/https_client.hpp"
#include "proto/pki.hpp"
#include "proto/time.hpp"
#include "proto/version.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <sys/stat.h>

#include <limits>

namespace graft::coordinator {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

proto::http_headers auth_headers(const kube_credentials& c) {
    proto::http_headers h{{"Accept", "application/json"}};
    if (!c.bearer_token.empty()) h.emplace_back("Authorization", "Bearer " + c.bearer_token);
    return h;
}

// The message of a Kubernetes Status object, when the body is one.
std::string status_message(std::string_view body) {
    try {
        auto j = proto::parse_json(body);
        if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
    } catch (const std::exception&) {
    }
    return {};
}

}  // namespace

kube_api_error api_error(const kube_credentials& c, const std::string& what, unsigned status, std::string_view body) {
    const std::string where = "the Kubernetes API server " + c.server + " (" + what + ")";
    std::string detail = status_message(body);
    if (!detail.empty()) detail = ": " + detail;
    switch (status) {
    case 401: {
        // The usual cause on a kubeadm cluster: the admin certificate's year is up.
        std::string expired;
        if (!c.client_certificate_pem.empty()) try {
                auto cert = proto::certificate_from_pem(c.client_certificate_pem);
                if (const auto end = proto::not_after(*cert); end <= proto::clock::now())
                    expired = ": its client certificate expired at " + proto::to_rfc3339(end) +
                              " (renew it: kubeadm certs renew admin.conf; graft reads the kubeconfig again when it changes)";
            } catch (const std::exception&) {
            }
        return {status, where + " refused the credentials of " + c.source + " (401 Unauthorized)" + detail + expired +
                            "; give the coordinator the cluster's current admin kubeconfig"};
    }
    case 403:
        return {status, where + " forbids this to the user of " + c.source + " (403 Forbidden)" + detail +
                            "; the user needs to manage Secrets in kube-system and watch Nodes (the cluster-admin role)"};
    case 404: return {status, where + " has no such object (404)" + detail};
    case 409: return {status, where + " reports a conflict (409)" + detail};
    case 410: return {status, where + ": the resource version is too old (410 Gone)" + detail};
    default:
        return {status, where + " answered HTTP " + std::to_string(status) + detail +
                            (status >= 500 ? "; the API server is failing: check its logs (kubectl -n kube-system logs)" : "")};
    }
}

kube_client::kube_client(kube_credentials credentials, std::chrono::seconds timeout)
    : credentials_(std::move(credentials)), timeout_(timeout),
      tls_(std::make_unique<net::ssl::context>(net::ssl::context::tls_client)) {
    // API servers speak TLS 1.2 and 1.3 (Go's defaults); graft's own channel is 1.3 only, this one is Kubernetes'.
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    tls_->set_verify_mode(net::ssl::verify_peer);
    const auto& c = credentials_;
    try {
        tls_->add_certificate_authority(net::buffer(c.ca_pem));
    } catch (const std::exception& e) {
        throw std::runtime_error("kubeconfig " + c.source + ": the cluster's certificate-authority is not a PEM "
                                 "certificate: " + e.what());
    }
    if (!c.client_certificate_pem.empty()) {
        try {
            tls_->use_certificate_chain(net::buffer(c.client_certificate_pem));
        } catch (const std::exception& e) {
            throw std::runtime_error("kubeconfig " + c.source + ": the user's client-certificate is not a PEM "
                                     "certificate: " + e.what());
        }
        try {
            tls_->use_private_key(net::buffer(c.client_key_pem), net::ssl::context::pem);
        } catch (const std::exception& e) {
            // OpenSSL's words only: they never include the key's bytes.
            throw std::runtime_error("kubeconfig " + c.source + ": the user's client-key is not a PEM private key "
                                     "matching its certificate: " + e.what());
        }
    }
}

kube_connection::file_stamp kube_connection::stamp() const {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return {};
    return {static_cast<unsigned long long>(st.st_ino), static_cast<unsigned long long>(st.st_size),
            static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::shared_ptr<kube_client> kube_connection::client() {
    std::lock_guard lock(mutex_);
    const auto now = stamp();
    if (!client_ || now != loaded_) {
        client_ = std::make_shared<kube_client>(load_kubeconfig(path_));
        loaded_ = now;
    }
    return client_;
}

proto::json kube_client::call(http::verb verb, const std::string& path, const std::string& body) {
    const std::string request = std::string(http::to_string(verb)) + " " + path;
    proto::http_result result;
    try {
        result = proto::https_call_sync(*tls_, credentials_.endpoint, verb, path, body, timeout_, auth_headers(credentials_));
    } catch (const std::exception& e) {
        throw kube_api_error(0, "cannot reach the Kubernetes API server " + credentials_.server + " (" + request +
                                    "): " + e.what());
    }
    if (result.status == 404 && verb == http::verb::delete_) return nullptr;
    if (result.status < 200 || result.status >= 300) throw api_error(credentials_, request, result.status, result.body);
    try {
        return proto::parse_json(result.body);
    } catch (const std::exception& e) {
        throw kube_api_error(502, "the Kubernetes API server " + credentials_.server + " (" + request +
                                      ") answered with something that is not JSON: " + e.what());
    }
}

proto::json kube_client::get(const std::string& path) { return call(http::verb::get, path, ""); }

proto::json kube_client::create(const std::string& path, const proto::json& object) {
    return call(http::verb::post, path, object.dump());
}

bool kube_client::remove(const std::string& path) {
    return !call(http::verb::delete_, path, "").is_null();
}

std::string kube_client::server_version() {
    auto v = get("/version");
    if (!v.is_object() || !v.contains("gitVersion") || !v["gitVersion"].is_string())
        throw kube_api_error(502, "the Kubernetes API server " + credentials_.server + " answered GET /version without "
                                  "a gitVersion");
    return v["gitVersion"].get<std::string>();
}

net::awaitable<void> kube_client::stream(std::string path, std::function<void(std::string_view)> on_line,
                                         std::chrono::seconds idle_timeout) {
    auto executor = co_await net::this_coro::executor;
    net::ip::tcp::resolver resolver(executor);
    beast::ssl_stream<beast::tcp_stream> stream(executor, *tls_);
    proto::verify_server_name(stream.native_handle(), credentials_.endpoint.host);
    auto& tcp = beast::get_lowest_layer(stream);

    tcp.expires_after(timeout_);
    auto results = co_await resolver.async_resolve(credentials_.endpoint.host, credentials_.endpoint.port, net::use_awaitable);
    co_await tcp.async_connect(results, net::use_awaitable);
    co_await stream.async_handshake(net::ssl::stream_base::client, net::use_awaitable);

    http::request<http::empty_body> req{http::verb::get, path, 11};
    req.set(http::field::host, credentials_.endpoint.host);
    req.set(http::field::user_agent, std::string("graft/") + proto::graft_version);
    for (const auto& [name, value] : auth_headers(credentials_)) req.set(name, value);
    co_await http::async_write(stream, req, net::use_awaitable);

    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // a watch has no end but the server's timeout
    co_await http::async_read_header(stream, buffer, parser, net::use_awaitable);
    const unsigned status = parser.get().result_int();

    std::string pending;
    char chunk[16 * 1024];
    while (!parser.is_done()) {
        parser.get().body().data = chunk;
        parser.get().body().size = sizeof chunk;
        tcp.expires_after(idle_timeout);
        auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, net::as_tuple(net::use_awaitable));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) throw boost::system::system_error(ec, "reading the watch of " + path);
        pending.append(chunk, sizeof chunk - parser.get().body().size);
        if (status != 200) {
            if (pending.size() > 64 * 1024) break;
            continue;
        }
        for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
            on_line(std::string_view(pending).substr(0, nl));
            pending.erase(0, nl + 1);
        }
        if (pending.size() > 16 * 1024 * 1024)
            throw kube_api_error(502, "the watch of " + path + " sent a line longer than 16 MiB");
    }
    if (status != 200) throw api_error(credentials_, "GET " + path, status, pending);
    if (!pending.empty()) on_line(pending);
    tcp.expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(net::as_tuple(net::use_awaitable));
}

}  // namespace graft::coordinator
