// Fuzz target: bytes off the wire, through Beast's HTTP parser and the coordinator's router with a real registry
// (SQLite in memory), CA and static join backend, as the server hands them over. Half the inputs come as a node's
// verified certificate would, so the node endpoints are reached past the certificate checks. Every input must get a
// well-formed HTTP answer; a 500 (an exception the router did not expect) is a finding too.
#include "coordinator/enroll/authority.hpp"
#include "coordinator/enroll/tokens.hpp"
#include "coordinator/http/router.hpp"
#include "coordinator/store/registry.hpp"
#include "proto/crypto.hpp"
#include "proto/log.hpp"
#include "proto/pki.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>

using namespace graft;
using namespace graft::coordinator;

namespace {

struct world {
    std::string dir;
    std::unique_ptr<node_registry> registry;
    std::unique_ptr<certificate_authority> ca;
    std::unique_ptr<join_backend> joins;
    std::unique_ptr<coordinator_state> state;

    world() {
        proto::set_log_threshold(proto::log_level::error);
        char pattern[] = "/tmp/graft-fuzz-router.XXXXXX";
        dir = ::mkdtemp(pattern);
        registry = open_sqlite_registry(":memory:");
        ca = std::make_unique<certificate_authority>(certificate_authority::create(dir, std::chrono::hours(24)));
        joins = make_static_backend("10.0.0.1:6443", "abcdef.0123456789abcdef", {"sha256:" + std::string(64, '1')});
        state = std::make_unique<coordinator_state>(coordinator_state{*registry, *ca, *joins});
        // The token the seed corpus enrolls with, fuzzfuzz.<32 times a>, and one enrolled node, node-1, so the node
        // endpoints have a target from the first input on.
        auto token = make_enrollment_token(proto::clock::now(), std::chrono::hours(24 * 365), std::nullopt);
        token.stored.id = "fuzzfuzz";
        token.stored.secret_sha256 = proto::sha256_hex(std::string(32, 'a'));
        registry->add_token(token.stored);
        proto::enroll_request enroll;
        enroll.protocol_version = 1;
        enroll.enrollment_token = "fuzzfuzz." + std::string(32, 'a');
        enroll.csr_pem = proto::make_csr_pem(*proto::generate_p256_key(), "fuzz");
        enroll.facts.machine_id = std::string(32, 'f');
        request req{boost::beast::http::verb::post, "/v1/enroll", 11};
        req.body() = enroll.to_json().dump();
        req.prepare_payload();
        if (handle(req, {std::nullopt, "192.0.2.7"}, *state).result_int() != 200) std::abort();
    }
    ~world() { std::filesystem::remove_all(dir); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static world w;
    if (size == 0) return 0;
    const bool as_node = data[0] & 1;
    boost::beast::http::request_parser<boost::beast::http::string_body> parser;
    parser.eager(true);
    parser.header_limit(16 * 1024);
    parser.body_limit(64 * 1024);
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(data + 1, size - 1), ec);
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;  // the server answers those itself, before the router
    request_context ctx;
    ctx.remote_address = "192.0.2.7";
    if (as_node) {
        ctx.client_node = "node-1";
        if (auto node = w.registry->find("node-1")) ctx.client_serial = node->certificate_serial;
    }
    response res = handle(parser.get(), ctx, *w.state);
    if (res.result_int() >= 500 && res.result() != boost::beast::http::status::service_unavailable) std::abort();
    return 0;
}
