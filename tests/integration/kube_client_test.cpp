// coordinator/kube/client.hpp against the Kubernetes API double: the calls the join backends make, and the errors
// an operator reads when the API server says no.
#include "coordinator/kube/bootstrap_token.hpp"
#include "coordinator/kube/client.hpp"
#include "proto/crypto.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;
using namespace graft::coordinator;

TEST_CASE("the client creates, reads and deletes a bootstrap token Secret, and reads the server's version") {
    test::kube_api_process api("v1.30.2");
    kube_client client(load_kubeconfig(api.kubeconfig()));
    CHECK(client.server_version() == "v1.30.2");
    auto token = make_bootstrap_token();
    auto created = client.create("/api/v1/namespaces/kube-system/secrets",
                                 bootstrap_token_secret(token, proto::clock::now() + std::chrono::minutes(15),
                                                        kubeadm_node_group, "node-1"));
    CHECK(created["metadata"]["name"] == token.secret_name());
    auto read = client.get("/api/v1/namespaces/kube-system/secrets/" + token.secret_name());
    CHECK(proto::base64_decode(read["data"]["token-secret"].get<std::string>()) == token.secret);
    CHECK(client.remove("/api/v1/namespaces/kube-system/secrets/" + token.secret_name()));
    CHECK_FALSE(client.remove("/api/v1/namespaces/kube-system/secrets/" + token.secret_name()));  // already gone
}

TEST_CASE("a Secret that breaks the bootstrap token rules is refused by the API double with the rule") {
    test::kube_api_process api;
    kube_client client(load_kubeconfig(api.kubeconfig()));
    auto secret = bootstrap_token_secret({"abcdef", "0123456789abcdef"}, proto::clock::now() + std::chrono::minutes(1),
                                         "system:nodes", "node-1");
    CHECK_THROWS_WITH(client.create("/api/v1/namespaces/kube-system/secrets", secret),
                      Catch::Contains("422") && Catch::Contains("auth-extra-groups must each match system:bootstrappers:"));
    CHECK(api.bootstrap_secrets().empty());
}

TEST_CASE("401, 403 and 500 answers are errors that name the server, the kubeconfig and what to do") {
    test::kube_api_process api;
    kube_client client(load_kubeconfig(api.kubeconfig()));
    const std::vector<std::pair<int, std::string>> cases{
        {401, "refused the credentials of " + api.kubeconfig() + " (401 Unauthorized)"},
        {403, "(403 Forbidden): forbidden: User cannot do this; the user needs to manage Secrets in kube-system"},
        {500, "answered HTTP 500: an error on the server has prevented the request; the API server is failing"}};
    for (const auto& [status, words] : cases) {
        REQUIRE(api.call("POST", "/_test/fail?status=" + std::to_string(status) + "&count=1").status == 200);
        try {
            client.server_version();
            FAIL("no error for HTTP " << status);
        } catch (const kube_api_error& e) {
            CHECK(e.status == static_cast<unsigned>(status));
            CHECK_THAT(e.what(), Catch::Contains(words) && Catch::Contains("https://" + api.endpoint() + " (GET /version)"));
        }
    }
    CHECK(client.server_version() == "v1.29.3");  // only the failures asked for
}

TEST_CASE("an API server that is not there, or not the one the kubeconfig's CA vouches for, is a connection error") {
    test::kube_api_process api;
    auto creds = load_kubeconfig(api.kubeconfig());
    auto elsewhere = creds;
    elsewhere.endpoint.port = std::to_string(test::free_port());
    CHECK_THROWS_WITH(kube_client(elsewhere).server_version(), Catch::Contains("cannot reach the Kubernetes API server"));

    test::kube_api_process other;  // its own CA
    auto wrong_ca = creds;
    wrong_ca.ca_pem = test::read(other.api_dir() + "/ca.crt");
    CHECK_THROWS_WITH(kube_client(wrong_ca).server_version(), Catch::Contains("certificate verify failed"));

    auto bad_key = creds;
    bad_key.client_key_pem = test::read(other.api_dir() + "/admin.key");
    CHECK_THROWS_WITH(kube_client(bad_key), Catch::Contains("client-key is not a PEM private key matching its certificate"));
}
