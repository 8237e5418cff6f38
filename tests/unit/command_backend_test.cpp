#include "coordinator/join/backend.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;
using namespace graft::coordinator;

namespace {
const std::string hash = "sha256:" + std::string(64, 'e');
const std::string line = "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash " + hash;

std::string join_error_of(const std::string& output) {
    try {
        parse_kubeadm_join_output(output);
    } catch (const join_error& e) {
        return e.what();
    }
    return "(accepted)";
}
}  // namespace

TEST_CASE("the line `kubeadm token create --print-join-command` prints is read in full") {
    auto j = parse_kubeadm_join_output(line + " \n");
    CHECK(j.api_server_endpoint == "10.0.0.1:6443");
    CHECK(j.token == "abcdef.0123456789abcdef");
    CHECK(j.ca_cert_hashes == std::vector<std::string>{hash});
}

TEST_CASE("warnings before the line and backslash continuations are tolerated") {
    auto j = parse_kubeadm_join_output("W1123 11:00:00 warning: something\nkubeadm join 10.0.0.1:6443 --token "
                                       "abcdef.0123456789abcdef \\\n\t--discovery-token-ca-cert-hash " + hash + "\n");
    CHECK(j.token == "abcdef.0123456789abcdef");
}

TEST_CASE("output graft would not pass on faithfully is refused, without echoing the token") {
    CHECK_THAT(join_error_of("error: not logged in\n"), Catch::Contains("no 'kubeadm join"));
    CHECK_THAT(join_error_of(line + " --control-plane --certificate-key abc"), Catch::Contains("control-plane"));
    CHECK_THAT(join_error_of("kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef"),
               Catch::Contains("no --discovery-token-ca-cert-hash"));
    CHECK_THAT(join_error_of("kubeadm join 10.0.0.1:6443 --token abcdef --discovery-token-ca-cert-hash " + hash),
               Catch::Contains("--token"));
    CHECK_THAT(join_error_of(line + " --discovery-token-unsafe-skip-ca-verification"), Catch::Contains("does not pass on"));
    CHECK_THAT(join_error_of(line + "\n" + line), Catch::Contains("more than one"));
    for (const auto& out : {line + " --control-plane", line + " --bogus"})
        CHECK(join_error_of(out).find("0123456789abcdef") == std::string::npos);
}

TEST_CASE("the command backend runs the program for each node and sets expiry from --ttl") {
    auto backend = make_command_backend({"sh", "-c", "echo '" + line + "'", "--ttl", "15m"}, std::chrono::seconds(10));
    node_record node;
    node.name = "node-4";
    auto before = proto::clock::now();
    auto spec = backend->issue(node, {});
    CHECK(spec.node_name == "node-4");
    CHECK(spec.token == "abcdef.0123456789abcdef");
    auto expires = proto::from_rfc3339(spec.expires_at);
    REQUIRE(expires);
    CHECK(*expires >= std::chrono::floor<std::chrono::seconds>(before) + std::chrono::minutes(15));
    CHECK(*expires <= before + std::chrono::minutes(15) + std::chrono::seconds(5));
}

TEST_CASE("a failing, missing or slow join program is a join_error that hides tokens") {
    node_record node;
    node.name = "node-1";
    auto failing = make_command_backend({"sh", "-c", "echo 'token abcdef.0123456789abcdef rejected' >&2; exit 3"},
                                        std::chrono::seconds(10));
    CHECK_THROWS_WITH(failing->issue(node, {}), Catch::Contains("status 3") && Catch::Contains("<token> rejected") &&
                                                    !Catch::Contains("0123456789abcdef"));
    auto missing = make_command_backend({"/nonexistent/kubeadm"}, std::chrono::seconds(10));
    CHECK_THROWS_AS(missing->issue(node, {}), join_error);
    auto slow = make_command_backend({"sleep", "30"}, std::chrono::seconds(1));
    CHECK_THROWS_WITH(slow->issue(node, {}), Catch::Contains("did not finish within 1s"));
}
