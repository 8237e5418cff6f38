#include "coordinator/store/etcd.hpp"

#include "proto/crypto.hpp"
#include "proto/files.hpp"
#include "proto/https_client.hpp"
#include "proto/tls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <mutex>
#include <thread>

namespace graft::coordinator {

namespace net = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

std::int64_t number(const json& j, const char* field) {
    auto it = j.find(field);
    if (it == j.end()) return 0;
    if (it->is_string()) return std::stoll(it->get<std::string>());
    return it->get<std::int64_t>();
}

std::string b64(std::string_view bytes) { return proto::base64_encode(bytes); }

std::string unb64(const json& j, const char* field) {
    auto it = j.find(field);
    if (it == j.end()) return {};
    auto out = proto::base64_decode(it->get<std::string>());
    if (!out) throw std::runtime_error(std::string("etcd sent a ") + field + " that is not base64");
    return *out;
}

etcd_kv read_kv(const json& j) {
    return {unb64(j, "key"), unb64(j, "value"), number(j, "create_revision"), number(j, "mod_revision"), number(j, "lease")};
}

}  // namespace

std::string prefix_end(std::string prefix) {
    while (!prefix.empty()) {
        auto& last = prefix.back();
        if (static_cast<unsigned char>(last) < 0xff) {
            ++last;
            return prefix;
        }
        prefix.pop_back();
    }
    return std::string(1, '\0');  // every key
}

// Kept connections, one per thread that is using the client at a time, each with its own io_context and TLS
// context (a client_tls is not shared between threads opening connections).
struct etcd_client::pool {
    struct connection {
        net::io_context io;
        std::unique_ptr<proto::client_tls> tls;
        std::unique_ptr<proto::https_connection> https;
        std::size_t member = 0;
    };

    etcd_options options;
    std::string ca_pem, cert_pem, key_pem;
    std::vector<proto::https_endpoint> members;
    std::mutex mutex;
    std::vector<std::unique_ptr<connection>> idle;
    std::size_t preferred = 0;  // the member that last answered

    std::unique_ptr<connection> take(std::size_t member) {
        {
            std::lock_guard lock(mutex);
            for (auto it = idle.begin(); it != idle.end(); ++it)
                if ((*it)->member == member) {
                    auto c = std::move(*it);
                    idle.erase(it);
                    return c;
                }
        }
        auto c = std::make_unique<connection>();
        c->tls = proto::client_tls::trusting(ca_pem);
        c->tls->use_identity(cert_pem, key_pem);
        c->member = member;
        c->https = std::make_unique<proto::https_connection>(c->tls->context(), members[member], std::chrono::seconds(30));
        return c;
    }

    void give_back(std::unique_ptr<connection> c) {
        std::lock_guard lock(mutex);
        preferred = c->member;
        if (idle.size() < 32) idle.push_back(std::move(c));
    }
};

etcd_client::etcd_client(etcd_options options) : pool_(std::make_unique<pool>()) {
    if (options.endpoints.empty()) throw std::invalid_argument("no etcd endpoint given");
    for (const auto& url : options.endpoints) {
        if (url.rfind("https://", 0) != 0)
            throw std::invalid_argument("etcd endpoint '" + url + "' is not https://HOST:PORT: graft speaks to etcd over TLS only");
        pool_->members.push_back(proto::parse_https_url(url));
    }
    pool_->ca_pem = proto::read_file(options.ca_file);
    pool_->cert_pem = proto::read_file(options.cert_file);
    pool_->key_pem = proto::read_file(options.key_file);
    // Read once now, so that a wrong file is named before anything is asked of etcd.
    std::unique_ptr<proto::client_tls> tls;
    try {
        tls = proto::client_tls::trusting(pool_->ca_pem);
    } catch (const std::exception& e) {
        throw std::runtime_error(options.ca_file + " is not the CA certificate etcd's certificates chain to: " + e.what());
    }
    try {
        tls->use_identity(pool_->cert_pem, pool_->key_pem);
    } catch (const std::exception& e) {
        throw std::runtime_error(options.cert_file + " and " + options.key_file + " are not a client certificate and its key " +
                                 "for etcd: " + e.what());
    }
    pool_->options = std::move(options);
}

etcd_client::~etcd_client() = default;

json etcd_client::call(const std::string& path, const json& body) {
    const std::string text = body.dump();
    std::size_t first;
    {
        std::lock_guard lock(pool_->mutex);
        first = pool_->preferred;
    }
    std::string failures;
    // Each member once, and (by default) each once more after a pause: an election after a member stopped takes a
    // moment.
    const std::size_t members = pool_->members.size();
    const std::size_t attempts = members * static_cast<std::size_t>(std::max(1, pool_->options.rounds));
    for (std::size_t attempt = 0; attempt < attempts; ++attempt) {
        if (attempt > 0 && attempt % members == 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
        const std::size_t member = (first + attempt) % members;
        auto c = pool_->take(member);
        const std::string where = pool_->options.endpoints[member];
        try {
            auto future = net::co_spawn(c->io, c->https->call(http::verb::post, path, text, pool_->options.timeout), net::use_future);
            c->io.restart();
            c->io.run();
            auto result = future.get();
            if (result.status == 200) {
                pool_->give_back(std::move(c));
                return json::parse(result.body);
            }
            // The gateway answers a gRPC error as JSON with a code: 14 (unavailable) and 4 (deadline) are the
            // member's trouble, worth another member; anything else is the request's, the same everywhere.
            json error = json::parse(result.body, nullptr, false);
            const int code = error.is_object() && error.contains("code") && error["code"].is_number() ? error["code"].get<int>() : 0;
            const std::string message = error.is_object() && error.contains("error") ? error["error"].dump() : result.body;
            if (result.status < 500 || (code != 14 && code != 4 && code != 0)) {
                pool_->give_back(std::move(c));
                throw std::runtime_error("etcd refused " + path + " at " + where + ": " + message);
            }
            failures += "\n  " + where + ": HTTP " + std::to_string(result.status) + " " + message;
        } catch (const boost::system::system_error& e) {
            failures += "\n  " + where + ": " + e.code().message();  // what() would add Asio's source location
        } catch (const json::exception& e) {
            failures += "\n  " + where + ": an answer that is not JSON (" + e.what() + ")";
        }
    }
    throw etcd_unavailable("no etcd member could answer " + path + ":" + failures);
}

std::optional<etcd_kv> etcd_client::get(const std::string& key, std::int64_t* revision) {
    auto answer = call("/v3/kv/range", {{"key", b64(key)}});
    if (revision) *revision = number(answer["header"], "revision");
    if (!answer.contains("kvs") || answer["kvs"].empty()) return std::nullopt;
    return read_kv(answer["kvs"][0]);
}

std::vector<etcd_kv> etcd_client::get_prefix(const std::string& prefix, std::int64_t* revision) {
    return get_prefix(prefix, range_options{}, revision);
}

std::vector<etcd_kv> etcd_client::get_prefix(const std::string& prefix, const range_options& options, std::int64_t* revision) {
    std::vector<etcd_kv> out;
    const std::string end = prefix_end(prefix);
    std::string from = prefix;
    std::int64_t at = options.at_revision;  // every page at the revision of the first
    constexpr int page = 500;
    for (;;) {
        json request = {{"key", b64(from)}, {"range_end", b64(end)}, {"limit", page}};
        if (at) request["revision"] = std::to_string(at);
        if (options.keys_only) request["keys_only"] = true;
        if (options.min_mod_revision) request["min_mod_revision"] = std::to_string(options.min_mod_revision);
        auto answer = call("/v3/kv/range", request);
        if (!at) at = number(answer["header"], "revision");
        const auto kvs = answer.value("kvs", json::array());
        for (const auto& kv : kvs) out.push_back(read_kv(kv));
        if (!answer.value("more", false) || kvs.empty()) break;
        from = out.back().key + std::string(1, '\0');
    }
    if (revision) *revision = at;
    return out;
}

std::size_t etcd_client::count_prefix(const std::string& prefix, std::int64_t at_revision) {
    json request = {{"key", b64(prefix)}, {"range_end", b64(prefix_end(prefix))}, {"count_only", true}};
    if (at_revision) request["revision"] = std::to_string(at_revision);
    return static_cast<std::size_t>(number(call("/v3/kv/range", request), "count"));
}

std::int64_t etcd_client::revision() {
    // A count of one key's range: the cheapest request that carries the header.
    auto answer = call("/v3/kv/range", {{"key", b64("graft")}, {"count_only", true}});
    return number(answer["header"], "revision");
}

etcd_txn_result etcd_client::txn(const std::vector<etcd_compare>& compares, const std::vector<etcd_op>& success) {
    json compare = json::array(), ops = json::array();
    for (const auto& c : compares)
        compare.push_back({{"key", b64(c.key)}, {"target", "MOD"}, {"result", "EQUAL"}, {"mod_revision", std::to_string(c.mod_revision)}});
    for (const auto& op : success) {
        switch (op.what) {
        case etcd_op::kind::put: {
            json put = {{"key", b64(op.key)}, {"value", b64(op.value)}};
            if (op.lease) put["lease"] = std::to_string(op.lease);
            ops.push_back({{"request_put", put}});
            break;
        }
        case etcd_op::kind::erase: ops.push_back({{"request_delete_range", {{"key", b64(op.key)}}}}); break;
        case etcd_op::kind::erase_prefix:
            ops.push_back({{"request_delete_range", {{"key", b64(op.key)}, {"range_end", b64(prefix_end(op.key))}}}});
            break;
        }
    }
    auto answer = call("/v3/kv/txn", {{"compare", compare}, {"success", ops}});
    return {answer.value("succeeded", false), number(answer["header"], "revision")};
}

std::optional<etcd_kv> etcd_client::create(const std::string& key, const std::string& value, std::int64_t lease) {
    json put = {{"key", b64(key)}, {"value", b64(value)}};
    if (lease) put["lease"] = std::to_string(lease);
    auto answer = call("/v3/kv/txn", {{"compare", json::array({{{"key", b64(key)}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}}})},
                                      {"success", json::array({{{"request_put", put}}})},
                                      {"failure", json::array({{{"request_range", {{"key", b64(key)}}}}})}});
    if (answer.value("succeeded", false)) return std::nullopt;
    for (const auto& response : answer.value("responses", json::array())) {
        const auto kvs = response["response_range"].value("kvs", json::array());
        if (!kvs.empty()) return read_kv(kvs[0]);
    }
    // Gone between the compare and the read cannot happen inside one transaction; an empty holder says "try again".
    return etcd_kv{key, {}, 0, 0, 0};
}

std::int64_t etcd_client::lease_grant(std::chrono::seconds ttl) {
    auto answer = call("/v3/lease/grant", {{"TTL", ttl.count()}});
    return number(answer, "ID");
}

bool etcd_client::lease_keepalive(std::int64_t id) {
    auto answer = call("/v3/lease/keepalive", {{"ID", std::to_string(id)}});
    return number(answer.value("result", json::object()), "TTL") > 0;
}

void etcd_client::lease_revoke(std::int64_t id) {
    call("/v3/lease/revoke", {{"ID", std::to_string(id)}});
}

}  // namespace graft::coordinator
