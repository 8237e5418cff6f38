// graft-test-kube-api: a test double of the Kubernetes API server, for what graft asks of one. No API server can
// run on a build machine, so this stands in for the parts graft relies on, each as the Kubernetes documentation
// describes it:
//
//   GET /version                          gitVersion ("v1.29.3"; --version sets it)
//   Secrets in kube-system                POST (stringData merged into base64 data, 409 AlreadyExists), GET, DELETE
//                                         (404 when absent) — every bootstrap-token Secret is checked against
//                                         https://kubernetes.io/docs/reference/access-authn-authz/bootstrap-tokens/
//                                         "Bootstrap Token Secret Format"; one that breaks a rule gets 422 Invalid
//   kube-public/cluster-info ConfigMap    data.kubeconfig (server and CA), plus a jws-kubeconfig-<token-id> detached
//                                         JWS (HS256, keyed by the token secret) for every unexpired token with
//                                         usage-bootstrap-signing, as the bootstrap signer controller keeps it
//                                         (same page, "ConfigMap Signing")
//   expired bootstrap tokens              deleted, as the token cleaner controller does (same page)
//   Nodes                                 GET list with resourceVersion; watch=1 with resourceVersion,
//                                         allowWatchBookmarks and timeoutSeconds, one JSON event per line
//                                         (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes);
//                                         a resourceVersion older than the compacted history gets an ERROR event
//                                         with a 410 Status (same page, "410 Gone responses"); POST creates a Node
//                                         the way a kubelet registers (NotReady until a network plugin runs),
//                                         keeping the status.nodeInfo.machineID the kubelet reports (the machine-id
//                                         of the host it runs on: the Node API reference, NodeSystemInfo);
//                                         DELETE removes one
//   authentication                        a client certificate from the cluster CA (the admin kubeconfig), or a
//                                         bootstrap token as bearer token (group system:bootstrappers), which may
//                                         only register Nodes and read cluster-info; anything else is 401
//
// Simplifications, marked as such: a bootstrap token registers a Node directly (a real kubelet first gets a
// certificate through a CertificateSigningRequest); there is no RBAC beyond the two identities above.
//
// Test controls, for the admin only, under /_test/: nodes/NAME/ready?status=True|False[&machine=ID] (the network
// plugin comes up or goes; with machine, a Node of that machine-id is made if there is none: another machine's), watch/drop (cut every watch mid-stream), watch/garbage (send a malformed line), compact (forget
// the event history), fail?status=N&count=K (the next K API requests get status N), version?v=V.
//
// It writes into --dir: ca.crt, admin.crt, admin.key, admin.conf (a kubeconfig with embedded credentials) and
// port (the HTTPS port on 127.0.0.1), and answers kubelet's health check (GET /healthz: ok) on the port in
// kubelet-port, over plain HTTP.

#include "proto/crypto.hpp"
#include "proto/files.hpp"
#include "proto/json_fields.hpp"
#include "proto/pki.hpp"
#include "proto/time.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <filesystem>
#include <iostream>
#include <list>
#include <map>
#include <regex>
#include <set>
#include <deque>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using graft::proto::json;

namespace {

struct watcher {
    explicit watcher(net::any_io_executor ex) : wake(ex) {}
    std::deque<std::string> lines;
    net::steady_timer wake;
    bool dropped = false;
};

struct event {
    std::int64_t version;
    std::string type;
    json object;
};

struct cluster {
    std::string version = "v1.29.3";
    std::string server;  // https://127.0.0.1:PORT
    std::string ca_pem;
    std::int64_t resource_version = 100;
    std::int64_t compacted = 0;  // events at or below this version are forgotten
    std::map<std::string, json> secrets;  // kube-system, by name
    std::map<std::string, json> nodes;
    std::map<std::string, std::string> machine_ids;  // status.nodeInfo.machineID of each Node
    std::vector<event> events;
    std::list<watcher*> watchers;
    int fail_status = 0;
    int fail_count = 0;

    std::int64_t next_version() { return ++resource_version; }

    void publish(const std::string& type, json object) {
        const auto v = std::stoll(object["metadata"]["resourceVersion"].get<std::string>());
        events.push_back({v, type, object});
        const std::string line = json{{"type", type}, {"object", object}}.dump() + "\n";
        for (auto* w : watchers) {
            w->lines.push_back(line);
            w->wake.cancel();
        }
    }
};

json status_object(int code, const std::string& reason, const std::string& message) {
    return {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()}, {"status", "Failure"},
            {"message", message}, {"reason", reason}, {"code", code}};
}

std::string base64url(std::string_view data) {
    std::string s = graft::proto::base64_encode(data);
    for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!s.empty() && s.back() == '=') s.pop_back();
    return s;
}

// The decoded data of a Secret.
std::map<std::string, std::string> secret_data(const json& secret) {
    std::map<std::string, std::string> out;
    if (secret.contains("data"))
        for (auto& [k, v] : secret["data"].items()) out[k] = graft::proto::base64_decode(v.get<std::string>()).value_or("");
    return out;
}

bool token_expired(const std::map<std::string, std::string>& d) {
    auto it = d.find("expiration");
    if (it == d.end()) return false;
    auto t = graft::proto::from_rfc3339(it->second);
    return !t || *t <= graft::proto::clock::now();
}

// The token cleaner: expired bootstrap tokens are deleted.
void clean_expired_tokens(cluster& c) {
    for (auto it = c.secrets.begin(); it != c.secrets.end();) {
        if (it->second.value("type", "") == "bootstrap.kubernetes.io/token" && token_expired(secret_data(it->second)))
            it = c.secrets.erase(it);
        else
            ++it;
    }
}

// The rules of "Bootstrap Token Secret Format"; "" when the Secret keeps them.
std::string bootstrap_secret_problem(const json& secret) {
    const std::string name = secret["metadata"].value("name", "");
    const auto d = secret_data(secret);
    auto get = [&](const char* k) { auto it = d.find(k); return it == d.end() ? std::string() : it->second; };
    if (!std::regex_match(get("token-id"), std::regex("[a-z0-9]{6}"))) return "token-id must match [a-z0-9]{6}";
    if (!std::regex_match(get("token-secret"), std::regex("[a-z0-9]{16}"))) return "token-secret must match [a-z0-9]{16}";
    if (name != "bootstrap-token-" + get("token-id")) return "metadata.name must be bootstrap-token-<token-id>";
    if (d.count("expiration")) {
        const std::string e = get("expiration");
        if (!std::regex_match(e, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)")) || !graft::proto::from_rfc3339(e))
            return "expiration must be an absolute UTC time in RFC 3339";
    }
    for (const char* usage : {"usage-bootstrap-authentication", "usage-bootstrap-signing"})
        if (d.count(usage) && get(usage) != "true") return std::string(usage) + " must be \"true\" when present";
    if (d.count("auth-extra-groups")) {
        std::string groups = get("auth-extra-groups");
        std::size_t start = 0;
        while (start <= groups.size()) {
            auto comma = groups.find(',', start);
            std::string g = groups.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!std::regex_match(g, std::regex(R"(system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9])")))
                return "auth-extra-groups must each match system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9], got '" + g + "'";
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    static const std::set<std::string> known{"token-id", "token-secret", "expiration", "usage-bootstrap-authentication",
                                             "usage-bootstrap-signing", "auth-extra-groups", "description"};
    for (const auto& [k, v] : d)
        if (!known.count(k) && !k.starts_with("usage-bootstrap-")) return "unknown key '" + k + "' in a bootstrap token Secret";
    return {};
}

std::string cluster_info_kubeconfig(const cluster& c) {
    return "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: " +
           graft::proto::base64_encode(c.ca_pem) + "\n    server: " + c.server + "\n  name: \"\"\ncontexts: null\n"
           "current-context: \"\"\npreferences: {}\nusers: null\n";
}

json cluster_info(cluster& c) {
    clean_expired_tokens(c);
    const std::string kubeconfig = cluster_info_kubeconfig(c);
    json data{{"kubeconfig", kubeconfig}};
    for (const auto& [name, secret] : c.secrets) {
        if (secret.value("type", "") != "bootstrap.kubernetes.io/token") continue;
        auto d = secret_data(secret);
        if (d["usage-bootstrap-signing"] != "true") continue;
        const std::string header = base64url(json{{"alg", "HS256"}, {"kid", d["token-id"]}}.dump());
        const std::string input = header + "." + base64url(kubeconfig);
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        HMAC(EVP_sha256(), d["token-secret"].data(), static_cast<int>(d["token-secret"].size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
        data["jws-kubeconfig-" + d["token-id"]] = header + ".." + base64url(std::string_view(reinterpret_cast<char*>(mac), len));
    }
    return {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
            {"metadata", {{"name", "cluster-info"}, {"namespace", "kube-public"}, {"resourceVersion", "1"}}}, {"data", data}};
}

// The identity of a request: "admin", "bootstrap" or "" (anonymous).
std::string authenticate(cluster& c, SSL* ssl, const http::request<http::string_body>& req) {
    if (SSL_get0_peer_certificate(ssl) && SSL_get_verify_result(ssl) == X509_V_OK) return "admin";
    auto auth = req.find(http::field::authorization);
    if (auth == req.end() || !auth->value().starts_with("Bearer ")) return "";
    const std::string token(auth->value().substr(7));
    if (token.size() != 23 || token[6] != '.') return "";
    clean_expired_tokens(c);
    auto it = c.secrets.find("bootstrap-token-" + token.substr(0, 6));
    if (it == c.secrets.end()) return "";
    auto d = secret_data(it->second);
    if (d["usage-bootstrap-authentication"] != "true" || !graft::proto::constant_time_equal(d["token-secret"], token.substr(7)))
        return "";
    return "bootstrap";
}

json node_object(cluster& c, const std::string& name, const std::string& ready, const std::string& reason,
                 const std::string& message) {
    json node = {{"apiVersion", "v1"}, {"kind", "Node"},
                 {"metadata", {{"name", name}, {"resourceVersion", std::to_string(c.next_version())}}},
                 {"status", {{"conditions", json::array({{{"type", "MemoryPressure"}, {"status", "False"}},
                                                         {{"type", "Ready"}, {"status", ready}, {"reason", reason},
                                                          {"message", message}}})}}}};
    if (auto id = c.machine_ids.find(name); id != c.machine_ids.end())
        node["status"]["nodeInfo"] = {{"machineID", id->second}};
    return node;
}

std::map<std::string, std::string> query_of(std::string_view target) {
    std::map<std::string, std::string> q;
    auto at = target.find('?');
    if (at == std::string_view::npos) return q;
    std::string rest(target.substr(at + 1));
    std::size_t start = 0;
    while (start < rest.size()) {
        auto amp = rest.find('&', start);
        std::string kv = rest.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
        auto eq = kv.find('=');
        q[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
        if (amp == std::string::npos) break;
        start = amp + 1;
    }
    return q;
}

struct reply {
    int status = 200;
    json body;
};

reply handle(cluster& c, const std::string& who, const http::request<http::string_body>& req) {
    std::string_view target = req.target();
    const std::string path(target.substr(0, target.find('?')));
    const auto query = query_of(target);
    const auto method = req.method();

    if (path.starts_with("/_test/")) {
        if (who != "admin") return {403, status_object(403, "Forbidden", "test controls are for the admin")};
        if (path == "/_test/watch/drop") {
            for (auto* w : c.watchers) {
                w->dropped = true;
                w->wake.cancel();
            }
            return {200, {{"dropped", c.watchers.size()}}};
        }
        if (path == "/_test/watch/garbage") {
            for (auto* w : c.watchers) {
                w->lines.push_back("{\"type\": \"MODIFIED\", \"object\": \n");
                w->wake.cancel();
            }
            return {200, {{"sent", c.watchers.size()}}};
        }
        if (path == "/_test/compact") {
            // History up to now is gone: a watch from any version seen so far gets 410 Gone.
            c.compacted = c.next_version();
            c.events.clear();
            return {200, {{"compacted", c.compacted}}};
        }
        if (path == "/_test/fail") {
            c.fail_status = std::stoi(query.at("status"));
            c.fail_count = std::stoi(query.at("count"));
            return {200, json::object()};
        }
        if (path == "/_test/version") {
            c.version = query.at("v");
            return {200, json::object()};
        }
        static const std::regex ready_path("/_test/nodes/([a-z0-9.-]+)/ready");
        std::smatch m;
        if (std::regex_match(path, m, ready_path)) {
            if (!c.nodes.count(m[1]) && query.count("machine")) c.machine_ids[m[1]] = query.at("machine");
            else if (!c.nodes.count(m[1])) return {404, status_object(404, "NotFound", "nodes \"" + m[1].str() + "\" not found")};
            const bool ready = query.count("status") && query.at("status") == "True";
            auto node = node_object(c, m[1], ready ? "True" : "False", ready ? "KubeletReady" : "KubeletNotReady",
                                    ready ? "kubelet is posting ready status"
                                          : "container runtime network not ready: NetworkReady=false "
                                            "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin "
                                            "not initialized");
            c.nodes[m[1]] = node;
            c.publish("MODIFIED", node);
            return {200, node};
        }
        return {404, status_object(404, "NotFound", "no such test control")};
    }

    if (c.fail_count > 0) {
        --c.fail_count;
        const int s = c.fail_status;
        const char* reason = s == 401 ? "Unauthorized" : s == 403 ? "Forbidden" : "InternalError";
        return {s, status_object(s, reason, s == 401 ? "Unauthorized" : s == 403 ? "forbidden: User cannot do this"
                                                                             : "an error on the server has prevented the request")};
    }
    if (path == "/api/v1/namespaces/kube-public/configmaps/cluster-info" && method == http::verb::get)
        return {200, cluster_info(c)};  // readable anonymously, as kubeadm's RBAC rule allows
    if (who.empty()) return {401, status_object(401, "Unauthorized", "Unauthorized")};

    if (path == "/api/v1/nodes" && method == http::verb::post) {
        json body;
        try {
            body = json::parse(req.body());
        } catch (const std::exception& e) {
            return {400, status_object(400, "BadRequest", e.what())};
        }
        const std::string name = body["metadata"].value("name", "");
        if (name.empty()) return {422, status_object(422, "Invalid", "metadata.name: Required value")};
        if (c.nodes.count(name)) return {409, status_object(409, "AlreadyExists", "nodes \"" + name + "\" already exists")};
        if (body.contains("status") && body["status"].contains("nodeInfo") && body["status"]["nodeInfo"].contains("machineID"))
            c.machine_ids[name] = body["status"]["nodeInfo"]["machineID"].get<std::string>();
        auto node = node_object(c, name, "False", "KubeletNotReady",
                                "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                                "message:Network plugin returns error: cni plugin not initialized");
        c.nodes[name] = node;
        c.publish("ADDED", node);
        return {201, node};
    }
    if (who != "admin") return {403, status_object(403, "Forbidden", "system:bootstrappers may only register nodes")};

    if (path == "/version") {
        auto v = c.version.substr(1);
        return {200, {{"major", v.substr(0, v.find('.'))}, {"minor", v.substr(v.find('.') + 1, v.rfind('.') - v.find('.') - 1)},
                      {"gitVersion", c.version}, {"platform", "linux/amd64"}}};
    }
    const std::string secrets = "/api/v1/namespaces/kube-system/secrets";
    if (path == secrets && method == http::verb::post) {
        json body;
        try {
            body = json::parse(req.body());
        } catch (const std::exception& e) {
            return {400, status_object(400, "BadRequest", e.what())};
        }
        if (!body.contains("metadata") || !body["metadata"].contains("name"))
            return {422, status_object(422, "Invalid", "metadata.name: Required value")};
        if (body["metadata"].value("namespace", "kube-system") != "kube-system")
            return {400, status_object(400, "BadRequest", "the namespace of the object does not match the namespace on the request")};
        if (!body.contains("data")) body["data"] = json::object();
        if (body.contains("stringData")) {
            for (auto& [k, v] : body["stringData"].items()) body["data"][k] = graft::proto::base64_encode(v.get<std::string>());
            body.erase("stringData");
        }
        const std::string name = body["metadata"]["name"];
        if (body.value("type", "") == "bootstrap.kubernetes.io/token" || name.starts_with("bootstrap-token-")) {
            if (body.value("type", "") != "bootstrap.kubernetes.io/token")
                return {422, status_object(422, "Invalid", "a bootstrap-token Secret must have type bootstrap.kubernetes.io/token")};
            if (auto problem = bootstrap_secret_problem(body); !problem.empty())
                return {422, status_object(422, "Invalid", "Secret \"" + name + "\" is not a valid bootstrap token: " + problem)};
        }
        if (c.secrets.count(name)) return {409, status_object(409, "AlreadyExists", "secrets \"" + name + "\" already exists")};
        body["metadata"]["namespace"] = "kube-system";
        body["metadata"]["resourceVersion"] = std::to_string(c.next_version());
        c.secrets[name] = body;
        return {201, body};
    }
    if (path.starts_with(secrets + "/")) {
        clean_expired_tokens(c);
        const std::string name = path.substr(secrets.size() + 1);
        auto it = c.secrets.find(name);
        if (it == c.secrets.end()) return {404, status_object(404, "NotFound", "secrets \"" + name + "\" not found")};
        if (method == http::verb::get) return {200, it->second};
        if (method == http::verb::delete_) {
            c.secrets.erase(it);
            return {200, {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Success"}}};
        }
    }
    if (path == "/api/v1/namespaces/kube-system/secrets" && method == http::verb::get) {
        clean_expired_tokens(c);
        json items = json::array();
        for (const auto& [n, s] : c.secrets) items.push_back(s);
        return {200, {{"kind", "SecretList"}, {"apiVersion", "v1"}, {"items", items}}};
    }
    if (path == "/api/v1/nodes" && method == http::verb::get) {
        json items = json::array();
        for (const auto& [n, node] : c.nodes) items.push_back(node);
        return {200, {{"kind", "NodeList"}, {"apiVersion", "v1"},
                      {"metadata", {{"resourceVersion", std::to_string(c.resource_version)}}}, {"items", items}}};
    }
    if (path.starts_with("/api/v1/nodes/") && method == http::verb::delete_) {
        const std::string name = path.substr(14);
        auto it = c.nodes.find(name);
        if (it == c.nodes.end()) return {404, status_object(404, "NotFound", "nodes \"" + name + "\" not found")};
        json node = it->second;
        node["metadata"]["resourceVersion"] = std::to_string(c.next_version());
        c.nodes.erase(it);
        c.publish("DELETED", node);
        return {200, node};
    }
    return {404, status_object(404, "NotFound", "the server could not find the requested resource")};
}

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// A watch: the events after the asked-for version, then new ones as they happen, bookmarks each second, until the
// asked-for timeout. The stream is chunked, one JSON event per line.
net::awaitable<void> serve_watch(cluster& c, tls_stream& stream, std::map<std::string, std::string> query) {
    http::response<http::empty_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.chunked(true);
    http::response_serializer<http::empty_body> head{res};
    co_await http::async_write_header(stream, head, net::use_awaitable);

    watcher w(co_await net::this_coro::executor);
    const std::string from = query.count("resourceVersion") ? query["resourceVersion"] : "";
    const std::int64_t since = from.empty() ? 0 : std::stoll(from);
    if (!from.empty() && from != "0" && since < c.compacted) {
        const std::string gone = json{{"type", "ERROR"}, {"object", status_object(410, "Expired",
                                      "too old resource version: " + from + " (" + std::to_string(c.compacted) + ")")}}.dump() + "\n";
        co_await net::async_write(stream, http::make_chunk(net::buffer(gone)), net::use_awaitable);
        co_await net::async_write(stream, http::make_chunk_last(), net::use_awaitable);
        co_return;
    }
    if (from.empty() || from == "0") {
        for (const auto& [n, node] : c.nodes) w.lines.push_back(json{{"type", "ADDED"}, {"object", node}}.dump() + "\n");
    } else {
        for (const auto& e : c.events)
            if (e.version > since) w.lines.push_back(json{{"type", e.type}, {"object", e.object}}.dump() + "\n");
    }
    c.watchers.push_back(&w);
    struct unregister {
        cluster& c;
        watcher* w;
        ~unregister() { c.watchers.remove(w); }
    } done{c, &w};

    const bool bookmarks = query.count("allowWatchBookmarks") && query["allowWatchBookmarks"] == "true";
    const int timeout = query.count("timeoutSeconds") ? std::stoi(query["timeoutSeconds"]) : 1800;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
    while (std::chrono::steady_clock::now() < deadline) {
        while (!w.lines.empty()) {
            const std::string line = w.lines.front();
            w.lines.pop_front();
            co_await net::async_write(stream, http::make_chunk(net::buffer(line)), net::use_awaitable);
        }
        if (w.dropped) {
            // Cut mid-stream: no last chunk, no TLS close, the connection just ends.
            beast::get_lowest_layer(stream).socket().close();
            co_return;
        }
        w.wake.expires_after(std::chrono::seconds(1));
        auto [ec] = co_await w.wake.async_wait(net::as_tuple(net::use_awaitable));
        if (!ec && bookmarks && w.lines.empty()) {
            w.lines.push_back(json{{"type", "BOOKMARK"}, {"object", {{"kind", "Node"}, {"apiVersion", "v1"},
                                   {"metadata", {{"resourceVersion", std::to_string(c.resource_version)}}}}}}.dump() + "\n");
        }
    }
    co_await net::async_write(stream, http::make_chunk_last(), net::use_awaitable);
}

net::awaitable<void> session(cluster& c, net::ssl::context& tls, net::ip::tcp::socket socket) {
    tls_stream stream(std::move(socket), tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    co_await stream.async_handshake(net::ssl::stream_base::server, net::use_awaitable);
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    co_await http::async_read(stream, buffer, req, net::use_awaitable);
    beast::get_lowest_layer(stream).expires_never();
    const std::string who = authenticate(c, stream.native_handle(), req);
    auto query = query_of(req.target());
    if (who == "admin" && req.method() == http::verb::get && req.target().starts_with("/api/v1/nodes?") &&
        query.count("watch") && (query["watch"] == "1" || query["watch"] == "true") && c.fail_count == 0) {
        co_await serve_watch(c, stream, query);
        co_return;
    }
    reply r = handle(c, who, req);
    http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    res.body() = r.body.dump();
    res.prepare_payload();
    co_await http::async_write(stream, res, net::use_awaitable);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(net::as_tuple(net::use_awaitable));
}

// kubelet's health endpoint, plain HTTP.
net::awaitable<void> healthz_session(net::ip::tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(std::chrono::seconds(10));
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    co_await http::async_read(stream, buffer, req, net::use_awaitable);
    http::response<http::string_body> res{http::status::ok, 11};
    res.body() = "ok";
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(stream, res, net::use_awaitable);
}

template <class Session>
net::awaitable<void> accept_loop(net::ip::tcp::acceptor& acceptor, Session start) {
    for (;;) {
        auto socket = co_await acceptor.async_accept(net::use_awaitable);
        net::co_spawn(acceptor.get_executor(), start(std::move(socket)), [](std::exception_ptr) {});
    }
}

std::string flag(const std::vector<std::string>& args, const std::string& name, const std::string& fallback) {
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == name) return args[i + 1];
    return fallback;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    const std::string dir = flag(args, "--dir", "");
    if (dir.empty()) {
        std::cerr << "usage: graft-test-kube-api --dir DIR [--version v1.29.3]\n";
        return 2;
    }
    std::filesystem::create_directories(dir);
    cluster c;
    c.version = flag(args, "--version", c.version);

    using namespace graft::proto;
    auto ca_key = generate_p256_key();
    certificate_profile ca_profile{"kubernetes", "", {}, {}, certificate_use::ca, std::chrono::hours(24)};
    auto ca = sign_certificate(nullptr, *ca_key, *ca_key, ca_profile);
    auto server_key = generate_p256_key();
    auto server = sign_certificate(ca.get(), *ca_key, *server_key,
                                   {"kube-apiserver", "", {"kubernetes", "localhost"}, {"127.0.0.1"}, certificate_use::server,
                                    std::chrono::hours(24)});
    auto admin_key = generate_p256_key();
    auto admin = sign_certificate(ca.get(), *ca_key, *admin_key,
                                  {"kubernetes-admin", "system:masters", {}, {}, certificate_use::client, std::chrono::hours(24)});
    c.ca_pem = certificate_pem(*ca);

    net::io_context io;
    net::ssl::context tls(net::ssl::context::tls_server);
    const std::string chain = certificate_pem(*server) + c.ca_pem;
    const std::string server_key_pem = private_key_pem(*server_key);
    tls.use_certificate_chain(net::buffer(chain));
    tls.use_private_key(net::buffer(server_key_pem), net::ssl::context::pem);
    tls.add_certificate_authority(net::buffer(c.ca_pem));
    tls.set_verify_mode(net::ssl::verify_peer);  // a client certificate is asked for, not required
    SSL_CTX_set_verify(tls.native_handle(), SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });

    net::ip::tcp::acceptor api(io, {net::ip::make_address("127.0.0.1"), 0});
    net::ip::tcp::acceptor kubelet(io, {net::ip::make_address("127.0.0.1"), 0});
    c.server = "https://127.0.0.1:" + std::to_string(api.local_endpoint().port());

    write_file_atomic(dir + "/ca.crt", c.ca_pem, 0644);
    write_file_atomic(dir + "/admin.crt", certificate_pem(*admin), 0644);
    write_file_atomic(dir + "/admin.key", private_key_pem(*admin_key), 0600);
    write_file_atomic(dir + "/admin.conf",
                      "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: " +
                          base64_encode(c.ca_pem) + "\n    server: " + c.server +
                          "\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: kubernetes-admin\n"
                          "  name: kubernetes-admin@kubernetes\ncurrent-context: kubernetes-admin@kubernetes\n"
                          "preferences: {}\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: " +
                          base64_encode(certificate_pem(*admin)) + "\n    client-key-data: " +
                          base64_encode(private_key_pem(*admin_key)) + "\n",
                      0600);
    write_file_atomic(dir + "/kubelet-port", std::to_string(kubelet.local_endpoint().port()) + "\n", 0644);
    // Written last: its presence says the double is ready.
    write_file_atomic(dir + "/port", std::to_string(api.local_endpoint().port()) + "\n", 0644);

    net::co_spawn(io, accept_loop(api, [&](net::ip::tcp::socket s) { return session(c, tls, std::move(s)); }), net::detached);
    net::co_spawn(io, accept_loop(kubelet, [](net::ip::tcp::socket s) { return healthz_session(std::move(s)); }), net::detached);
    net::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
    io.run();
    return 0;
}
