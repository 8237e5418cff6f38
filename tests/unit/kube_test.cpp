// The coordinator's Kubernetes pieces without a network: kubeconfig reading, bootstrap-token Secrets, the version
// skew policy, k0s tokens, and how Node readiness becomes graft's phases.
#include "coordinator/join/backend.hpp"
#include "coordinator/join/skew.hpp"
#include "coordinator/kube/bootstrap_token.hpp"
#include "coordinator/kube/client.hpp"
#include "coordinator/kube/kubeconfig.hpp"
#include "coordinator/kube/readiness.hpp"
#include "coordinator/store/registry.hpp"
#include "proto/crypto.hpp"
#include "proto/pki.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <cctype>

#include <regex>
#include <set>

using namespace graft;
using namespace graft::coordinator;

namespace {

const std::string ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

std::string kubeconfig(const std::string& user_section, const std::string& context_user = "admin") {
    return "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n"
           "    certificate-authority-data: " + proto::base64_encode(ca_pem) + "\ncontexts:\n- name: c\n  context:\n"
           "    cluster: k\n    user: " + context_user + "\ncurrent-context: c\nusers:\n- name: admin\n  user:\n" + user_section;
}

}  // namespace

TEST_CASE("base64 round-trips and refuses what is not base64") {
    for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
        CHECK(proto::base64_decode(proto::base64_encode(s)) == s);
    CHECK(proto::base64_encode("graft") == "Z3JhZnQ=");
    CHECK(proto::base64_decode("Z3JhZnQ=\n") == "graft");
    CHECK_FALSE(proto::base64_decode("Z3JhZnQ"));    // wrong length
    CHECK_FALSE(proto::base64_decode("Z3J=ZnQ="));   // padding inside
    CHECK_FALSE(proto::base64_decode("Z3JhZn!="));   // outside the alphabet
}

TEST_CASE("a kubeconfig gives the current context's server, CA and user, embedded or in files beside it") {
    test::temp_dir dir;
    auto c = parse_kubeconfig(kubeconfig("    client-certificate-data: " + proto::base64_encode("CERT") +
                                         "\n    client-key-data: " + proto::base64_encode("KEY") + "\n"),
                              "admin.conf", dir.path().string());
    CHECK(c.server == "https://10.0.0.1:6443");
    CHECK(c.endpoint.host == "10.0.0.1");
    CHECK(c.endpoint.port == "6443");
    CHECK(c.ca_pem == ca_pem);
    CHECK(c.client_certificate_pem == "CERT");
    CHECK(c.client_key_pem == "KEY");

    test::write(dir / "pki/admin.crt", "CERT FILE");
    test::write(dir / "pki/admin.key", "KEY FILE");
    c = parse_kubeconfig(kubeconfig("    client-certificate: pki/admin.crt\n    client-key: " + dir / "pki/admin.key" + "\n"),
                         "admin.conf", dir.path().string());
    CHECK(c.client_certificate_pem == "CERT FILE");
    CHECK(c.client_key_pem == "KEY FILE");

    c = parse_kubeconfig(kubeconfig("    token: abc.def\n"), "k3s.yaml", dir.path().string());
    CHECK(c.bearer_token == "abc.def");
}

TEST_CASE("a kubeconfig that graft cannot use names itself, the part and what to do") {
    test::temp_dir dir;
    auto error = [&](const std::string& text) {
        try {
            parse_kubeconfig(text, "/etc/kubernetes/admin.conf", dir.path().string());
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::string("(accepted)");
    };
    const std::string prefix = "kubeconfig /etc/kubernetes/admin.conf: ";
    CHECK_THAT(error(kubeconfig("    token: x\n", "nobody")),
               Catch::StartsWith(prefix) && Catch::Contains("user 'nobody' of context 'c' is not in 'users'"));
    CHECK_THAT(error(kubeconfig("    client-key: missing.key\n    client-certificate-data: eA==\n")),
               Catch::Contains("'user.client-key' names " + dir / "missing.key") && Catch::Contains("cannot be read"));
    CHECK_THAT(error(kubeconfig("    exec:\n      command: aws\n")),
               Catch::Contains("no client certificate and key and no token") && Catch::Contains("exec"));
    CHECK_THAT(error(kubeconfig("    client-key-data: eA==\n")), Catch::Contains("without its certificate"));
    CHECK_THAT(error(kubeconfig("    client-key-data: not*base64\n")), Catch::Contains("'user.client-key-data' is not valid base64"));
    CHECK_THAT(error("current-context: x\n"), Catch::Contains("'x' is not in 'contexts'"));
    CHECK_THAT(error("{"), Catch::Contains("not valid YAML"));
    std::string insecure = kubeconfig("    token: x\n");
    insecure.replace(insecure.find("    certificate-authority-data"), 0, "    insecure-skip-tls-verify: true\n");
    CHECK_THAT(error(insecure), Catch::Contains("insecure-skip-tls-verify"));
    CHECK_THROWS_WITH(load_kubeconfig(dir / "none.conf"), Catch::Contains(dir / "none.conf") && Catch::Contains("cannot be read"));
}

TEST_CASE("a bootstrap token Secret has exactly the fields Kubernetes defines") {
    std::set<std::string> ids;
    for (int i = 0; i < 50; ++i) {
        auto t = make_bootstrap_token();
        CHECK(std::regex_match(t.id, std::regex("[a-z0-9]{6}")));
        CHECK(std::regex_match(t.secret, std::regex("[a-z0-9]{16}")));
        CHECK(proto::is_bootstrap_token(t.text()));
        ids.insert(t.id);
    }
    CHECK(ids.size() == 50);  // 36^6 ids: a repeat in 50 would point at a broken generator

    bootstrap_token t{"abcdef", "0123456789abcdef"};
    auto s = bootstrap_token_secret(t, proto::from_unix(1'900'000'000), kubeadm_node_group, "node-7");
    CHECK(s["metadata"]["name"] == "bootstrap-token-abcdef");
    CHECK(s["metadata"]["namespace"] == "kube-system");
    CHECK(s["type"] == "bootstrap.kubernetes.io/token");
    const auto& d = s["stringData"];
    CHECK(d["token-id"] == "abcdef");
    CHECK(d["token-secret"] == "0123456789abcdef");
    CHECK(d["expiration"] == "2030-03-17T17:46:40Z");
    CHECK(d["usage-bootstrap-authentication"] == "true");
    CHECK(d["usage-bootstrap-signing"] == "true");
    CHECK(d["auth-extra-groups"] == "system:bootstrappers:kubeadm:default-node-token");
    CHECK(d["description"] == "graft join credential for node node-7");
    CHECK(d.size() == 7);
    CHECK(token_id_of_secret("bootstrap-token-abcdef") == "abcdef");
    CHECK(token_id_of_secret("default-token-abcdef").empty());
}

TEST_CASE("kubelet may be as new as the API server and up to three minors older, two before 1.25") {
    const kube_version server{1, 29, 3};
    auto ok = [&](const char* kubelet) { return version_skew_problem(server, std::string(kubelet), std::nullopt).empty(); };
    CHECK(ok("v1.29.3"));
    CHECK(ok("v1.29.9"));   // a newer patch of the same minor is the same minor
    CHECK(ok("v1.26.0"));   // three minors older: the limit
    CHECK_FALSE(ok("v1.25.15"));
    CHECK_FALSE(ok("v1.30.0"));
    CHECK(ok("Kubernetes v1.28.1"));  // as `kubelet --version` prints it
    CHECK(ok("v1.29.3+k3s1"));        // k3s and k0s builds carry a suffix
    // Before 1.25 the window was two minors.
    const kube_version old_server{1, 25, 0};
    CHECK(version_skew_problem(old_server, std::string("v1.23.4"), std::nullopt).empty());
    CHECK_THAT(version_skew_problem(old_server, std::string("v1.22.9"), std::nullopt),
               Catch::Contains("3 minor versions older") && Catch::Contains("at most 2") && Catch::Contains("install kubelet 1.25.x"));
    CHECK_THAT(version_skew_problem(server, std::string("v1.30.0"), std::nullopt),
               Catch::Contains("newer than the cluster's API server (1.29)") && Catch::Contains("install kubelet 1.29.x"));
    CHECK_THAT(version_skew_problem(server, std::string("v1.25.0"), std::nullopt),
               Catch::Contains("4 minor versions older") && Catch::Contains("at most 3"));
}

TEST_CASE("kubeadm must match the cluster's minor version, and an unreadable version is named") {
    const kube_version server{1, 29, 3};
    CHECK(version_skew_problem(server, std::nullopt, std::string("v1.29.0")).empty());
    CHECK_THAT(version_skew_problem(server, std::nullopt, std::string("v1.28.9")),
               Catch::Contains("kubeadm v1.28.9 cannot join a 1.29 cluster") && Catch::Contains("install kubeadm 1.29.x"));
    CHECK_THAT(version_skew_problem(server, std::nullopt, std::string("v1.30.0")), Catch::Contains("install kubeadm 1.29.x"));
    CHECK_THAT(version_skew_problem(server, std::string("banana"), std::nullopt), Catch::Contains("'banana'"));
    CHECK(version_skew_problem(server, std::nullopt, std::nullopt).empty());
    CHECK_FALSE(parse_kube_version("v1"));
    CHECK_FALSE(parse_kube_version("1.29.x"));
    CHECK(parse_kube_version("v1.30.0-rc.1")->minor == 30);
}

TEST_CASE("a k0s join token is read for its server and token id, and anything else is refused") {
    test::temp_dir dir;
    test::write(dir / "kubeconfig", "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: k0s\n"
                                    "users:\n- name: kubelet-bootstrap\n  user:\n    token: abcdef.0123456789abcdef\n");
    auto r = test::run({"sh", "-c", "gzip -c '" + dir / "kubeconfig" + "' | base64 -w0"});
    REQUIRE(r.exit_code == 0);
    auto c = read_k0s_token(r.output);
    CHECK(c.server == "https://10.0.0.1:6443");
    CHECK(c.token_id == "abcdef");
    CHECK_THROWS_WITH(read_k0s_token("not base64!"), Catch::Contains("no join token"));
    CHECK_THROWS_WITH(read_k0s_token(proto::base64_encode("plain text")), Catch::Contains("not gzip"));
}

namespace {

// Remembers revocations; fails them while `fail` is set.
struct recording_backend : join_backend {
    std::vector<std::string> revoked;
    bool fail = false;
    proto::join_spec issue(const node_record&, const proto::join_request&) override { return {}; }
    void revoke(const std::string& node, const std::string& id) override {
        if (fail) throw join_error("the API server is down");
        revoked.push_back(node + "/" + id);
    }
};

struct tracked_registry {
    test::temp_dir dir;
    std::unique_ptr<node_registry> registry = open_sqlite_registry(dir / "registry.db");
    recording_backend backend;
    readiness_tracker tracker{*registry, backend, [] { return proto::from_unix(1'800'000'000); }};

    explicit tracked_registry(const std::vector<std::string>& names) {
        stored_token t{"tokenid", proto::sha256_hex("secret"), 2'000'000'000, std::nullopt};
        registry->add_token(t);
        for (std::size_t i = 0; i < names.size(); ++i) {
            enrollment e;
            e.token_id = "tokenid";
            e.token_secret = "secret";
            e.facts.machine_id = std::string(31, 'a') + static_cast<char>('0' + i);
            e.now = 1'800'000'000;
            e.issue_certificate = [](const std::string& n) { return std::pair{"PEM " + n, "serial " + n}; };
            registry->enroll(e);
            registry->record_phase(names[i], "joining", "", std::nullopt, 1'800'000'000);
            registry->record_join(names[i], "kubeadm join ...", 1'800'000'000, 1'800'000'900, "tok00" + std::to_string(i));
        }
    }
    node_record node(const std::string& name) { return *registry->find(name); }
};

node_readiness readiness(const std::string& name, const std::string& ready, const std::string& reason = {},
                         const std::string& message = {}) {
    return {name, ready, reason, message};
}

}  // namespace

TEST_CASE("a NotReady Node keeps its graft node joined with kubelet's reason, and Ready makes it ready and revokes its token") {
    tracked_registry t({"node-1"});
    t.tracker.observed(readiness("node-1", "False", "KubeletNotReady", "cni plugin not initialized"));
    CHECK(t.node("node-1").phase == "joined");
    CHECK(t.node("node-1").reason == "NotReady: KubeletNotReady: cni plugin not initialized");
    CHECK(t.node("node-1").readiness == "NotReady");  // the cluster's word, in a field of its own
    CHECK(t.backend.revoked.empty());

    t.tracker.observed(readiness("node-1", "True", "KubeletReady"));
    CHECK(t.node("node-1").phase == "ready");
    CHECK(t.node("node-1").readiness == "Ready");
    CHECK(t.node("node-1").reason.empty());
    CHECK(t.backend.revoked == std::vector<std::string>{"node-1/tok000"});
    CHECK(t.node("node-1").join_credential.empty());
    t.tracker.observed(readiness("node-1", "True"));  // the next event has nothing left to revoke
    CHECK(t.backend.revoked.size() == 1);
}

TEST_CASE("a revocation that fails is kept and tried again on the next event") {
    tracked_registry t({"node-1"});
    t.backend.fail = true;
    t.tracker.observed(readiness("node-1", "True"));
    CHECK(t.node("node-1").phase == "ready");
    CHECK(t.node("node-1").join_credential == "tok000");
    t.backend.fail = false;
    t.tracker.observed(readiness("node-1", "True"));
    CHECK(t.backend.revoked == std::vector<std::string>{"node-1/tok000"});
    CHECK(t.node("node-1").join_credential.empty());
}

TEST_CASE("Nodes graft did not enroll are ignored, and a deleted or vanished Node shows as deleted") {
    tracked_registry t({"node-1", "node-2"});
    t.tracker.observed(readiness("control-plane", "True"));
    CHECK_FALSE(t.registry->find("control-plane"));

    t.tracker.observed(readiness("node-1", "True"));
    t.tracker.deleted("node-1");
    CHECK(t.node("node-1").phase == "deleted");
    CHECK(t.node("node-1").readiness.empty());
    CHECK_THAT(t.node("node-1").reason, Catch::Contains("deleted from the cluster"));

    // A re-list that no longer has node-2 (deleted while the watch was down) marks it deleted too.
    t.tracker.observed(readiness("node-2", "False"));
    t.tracker.listed({readiness("control-plane", "True")});
    CHECK(t.node("node-2").phase == "deleted");
    const auto history = t.registry->history("node-2");
    CHECK(std::get<0>(history.back()) == "deleted");
}

TEST_CASE("a same-name Node of another machine is a conflict, not a false ready, and nothing is revoked for it") {
    tracked_registry t({"node-1"});
    const std::string ours = t.node("node-1").machine_id;
    auto foreign = readiness("node-1", "True", "KubeletReady");
    foreign.machine_id = std::string(32, 'f');
    t.tracker.observed(foreign);
    CHECK(t.node("node-1").phase == "failed");
    CHECK_THAT(t.node("node-1").reason, Catch::Contains("already has a Node named node-1 on another machine") &&
                                            Catch::Contains(std::string(32, 'f')) && Catch::Contains(ours) &&
                                            Catch::Contains("kubectl delete node node-1"));
    CHECK(t.backend.revoked.empty());
    CHECK(t.node("node-1").join_credential == "tok000");

    // kubelet's machineID is the same 32 hex digits, here in capitals: this Node is ours.
    auto own = readiness("node-1", "True", "KubeletReady");
    for (char c : ours) own.machine_id += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    t.tracker.observed(own);
    CHECK(t.node("node-1").phase == "ready");
    CHECK(t.backend.revoked == std::vector<std::string>{"node-1/tok000"});
}

TEST_CASE("the tracker knows every Node name in the cluster, graft's or not") {
    tracked_registry t({"node-1"});
    t.tracker.observed(readiness("control-plane", "True"));
    CHECK(t.tracker.in_cluster("control-plane"));
    CHECK_FALSE(t.tracker.in_cluster("node-1"));
    t.tracker.deleted("control-plane");
    CHECK_FALSE(t.tracker.in_cluster("control-plane"));
    t.tracker.listed({readiness("node-7", "False"), readiness("node-1", "False")});
    CHECK(t.tracker.in_cluster("node-7"));
    CHECK(t.tracker.in_cluster("node-1"));
    auto node = read_node_readiness(proto::json::parse(
        R"({"metadata": {"name": "node-1"}, "status": {"nodeInfo": {"machineID": "0123456789abcdef0123456789abcdef"}}})"));
    CHECK(node.machine_id == "0123456789abcdef0123456789abcdef");
}

TEST_CASE("a Node object without a name or with malformed conditions is refused, naming the field") {
    CHECK_THROWS_WITH(read_node_readiness({{"kind", "Node"}}), Catch::Contains("object.metadata.name"));
    CHECK_THROWS_WITH(read_node_readiness({{"metadata", {{"name", "n"}}}, {"status", {{"conditions", "Ready"}}}}),
                      Catch::Contains("object.status.conditions"));
    auto r = read_node_readiness({{"metadata", {{"name", "n"}}}});
    CHECK(r.ready == "Unknown");
}

TEST_CASE("a kubeconfig rewritten while the coordinator runs is read again, and a 401 says when its certificate expired") {
    test::temp_dir dir;
    auto key = proto::generate_p256_key();
    proto::certificate_profile ca_profile;
    ca_profile.common_name = "kubernetes";
    ca_profile.use = proto::certificate_use::ca;
    auto ca = proto::sign_certificate(nullptr, *key, *key, ca_profile);
    proto::certificate_profile admin;
    admin.common_name = "kubernetes-admin";
    admin.lifetime = std::chrono::seconds(-3600);  // a year after kubeadm init: expired an hour ago
    auto expired = proto::sign_certificate(ca.get(), *key, *key, admin);
    auto write_config = [&](const std::string& server) {
        test::write(dir / "admin.conf",
                    "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: " + server +
                        "\n    certificate-authority-data: " + proto::base64_encode(proto::certificate_pem(*ca)) +
                        "\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: admin\ncurrent-context: c\nusers:\n"
                        "- name: admin\n  user:\n    client-certificate-data: " +
                        proto::base64_encode(proto::certificate_pem(*expired)) +
                        "\n    client-key-data: " + proto::base64_encode(proto::private_key_pem(*key)) + "\n");
    };
    write_config("https://10.0.0.1:6443");
    kube_connection connection(dir / "admin.conf");
    const auto first = connection.client();
    CHECK(connection.client() == first);  // unchanged: the same client
    write_config("https://10.0.0.21:6443");
    CHECK(connection.client() != first);
    CHECK(connection.client()->credentials().server == "https://10.0.0.21:6443");

    const auto error = api_error(connection.client()->credentials(), "GET /version", 401, "");
    CHECK(error.status == 401);
    CHECK_THAT(error.what(), Catch::Contains("its client certificate expired at") &&
                                 Catch::Contains("kubeadm certs renew admin.conf"));
}

TEST_CASE("a same-name Node whose firmware UUID is not the enrolled board's is a conflict too") {
    tracked_registry t({"node-1"});
    // node-1 enrolled from an x86 box with a DMI system UUID; kubelet reports the UUID in any case.
    auto facts = proto::hardware_facts::from_json(proto::parse_json(t.node("node-1").facts_json));
    facts.system_uuid = "4C4C4544-0036-4310-8033-B4C04F4B4E32";
    {
        enrollment again;
        again.token_id = "tokenid";
        again.token_secret = "secret";
        again.facts = facts;
        again.now = 1'800'000'000;
        again.issue_certificate = [](const std::string& n) { return std::pair{"PEM " + n, "serial " + n}; };
        REQUIRE(t.registry->enroll(again).node.name == "node-1");
    }
    auto other = readiness("node-1", "True", "KubeletReady");
    other.machine_id = facts.machine_id;  // a cloned machine-id, another board
    other.system_uuid = "4c4c4544-0036-4310-8033-ffffffffffff";
    t.tracker.observed(other);
    CHECK(t.node("node-1").phase == "failed");
    CHECK_THAT(t.node("node-1").reason, Catch::Contains("systemUUID is 4c4c4544-0036-4310-8033-ffffffffffff"));

    auto same = other;
    same.system_uuid = "4c4c4544-0036-4310-8033-b4c04f4b4e32";  // kubelet writes it in lowercase
    t.tracker.observed(same);
    CHECK(t.node("node-1").phase == "ready");
}
