// The whole way from flashed to Ready for each flavour: real graft-agent processes on sandbox roots, a real
// graft-coordinator, and the Kubernetes API double (tests/support/kube_api_double.cpp) standing in for the cluster.
// On the node side, tests/fixtures/stub-kubeadm, stub-kubelet, stub-k3s and stub-k0s stand in for those programs
// (their headers say what real behaviour each mirrors).
#include "proto/crypto.hpp"
#include "proto/messages.hpp"
#include "proto/pki.hpp"
#include "proto/time.hpp"
#include "support/coordinator_api.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>

using namespace graft;
using test::coordinator_process;
using test::kube_api_process;

namespace {

const std::string fixtures = GRAFT_FIXTURES_DIR;

struct node_sandbox {
    std::string root;
    std::string config;
    std::string log;
    std::string records;  // where the stubs record what they were asked
};

node_sandbox make_node(const coordinator_process& c, const std::string& name) {
    node_sandbox n{c.dir() / name, c.dir() / (name + "/boot/firmware/graft.json"), c.dir() / (name + ".log"),
                   c.dir() / (name + "-records")};
    test::make_node_root(n.root);
    test::write(n.config, c.boot_json());
    return n;
}

std::vector<std::string> agent_argv(const node_sandbox& n, const kube_api_process& api, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{GRAFT_AGENT_BIN, "run", "--config", n.config, "--root", n.root,
                                  "--kubeadm", fixtures + "/stub-kubeadm", "--kubelet", fixtures + "/stub-kubelet",
                                  "--k3s", fixtures + "/stub-k3s", "--k0s", fixtures + "/stub-k0s",
                                  "--kubelet-healthz", api.kubelet_healthz(), "--readiness-interval-ms", "200",
                                  "--retry-initial-ms", "100", "--retry-max-ms", "1000", "--exit-when-ready"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

std::map<std::string, std::string> agent_env(const node_sandbox& n, const kube_api_process& api) {
    return {{"STUB_RECORD_DIR", n.records}, {"STUB_KUBE_API_DIR", api.api_dir()},
            {"STUB_MACHINE_ID_FILE", n.root + "/etc/machine-id"}};
}

std::optional<proto::node_status> node_status(const coordinator_process& c, const std::string& name) {
    auto r = test::api::get(c, "/v1/nodes/" + name);
    if (r.status != 200) return std::nullopt;
    return proto::node_status::from_json(proto::parse_json(r.body));
}

proto::json cluster_view(const coordinator_process& c) {
    auto r = test::api::get(c, "/v1/nodes");
    REQUIRE(r.status == 200);
    return proto::parse_json(r.body).at("cluster");
}

bool phase_is(const coordinator_process& c, const std::string& name, const std::string& phase) {
    auto s = node_status(c, name);
    return s && s->phase == phase;
}

// A coordinator using the API double's admin kubeconfig, watching Nodes with a short watch timeout.
std::unique_ptr<coordinator_process> coordinator_for(const kube_api_process& api, std::vector<std::string> flags) {
    flags.insert(flags.end(), {"--kubeconfig", api.kubeconfig()});
    auto c = std::make_unique<coordinator_process>(flags);
    c->add_serve_flags({"--watch-timeout", "5", "--kube-retry-max-ms", "2000"});
    c->add_env("STUB_KUBE_API_DIR", api.api_dir());
    c->add_env("STUB_RECORD_DIR", c->dir() / "coordinator-records");
    c->start();
    return c;
}

// The Secret as the API holds it, its data decoded.
std::map<std::string, std::string> secret_data(const kube_api_process& api, const std::string& name) {
    auto r = api.call("GET", "/api/v1/namespaces/kube-system/secrets/" + name);
    REQUIRE(r.status == 200);
    std::map<std::string, std::string> out;
    const auto secret = proto::parse_json(r.body);
    for (auto& [k, v] : secret.at("data").items()) out[k] = proto::base64_decode(v.get<std::string>()).value();
    return out;
}

// Waits until `done`; on a timeout, fails showing the agent's and the coordinator's logs as they are then.
void wait_for(const std::function<bool()>& done, const node_sandbox& n, const coordinator_process& c,
              std::chrono::seconds timeout = std::chrono::seconds(20)) {
    if (test::eventually(done, timeout)) return;
    FAIL("timed out; agent log:\n" + test::read(n.log) + "\ncoordinator log:\n" + c.log());
}

// Waits for the node to register (NotReady, as a kubelet without a network plugin is), checks the coordinator
// shows that with kubelet's reason, then brings the network up and waits for the agent to finish at Ready.
void bring_to_ready(const coordinator_process& c, const kube_api_process& api, test::child& agent, const node_sandbox& n,
                    const std::string& name) {
    wait_for([&] {
        auto s = node_status(c, name);
        return s && s->phase == "joined" && s->reason.find("cni plugin not initialized") != std::string::npos;
    }, n, c);
    CHECK(agent.running());  // joined is not the end: the agent waits for Ready
    REQUIRE(api.call("POST", "/_test/nodes/" + name + "/ready?status=True").status == 200);
    CHECK(agent.wait(std::chrono::seconds(30)) == 0);
    CHECK(phase_is(c, name, "ready"));
    CHECK(proto::parse_json(test::read(n.root + "/var/lib/graft/state.json")).at("phase") == "ready");
}

}  // namespace

TEST_CASE("a kubeadm node goes enrolled to ready with its own 15-minute bootstrap token, which is gone afterwards") {
    kube_api_process api;
    auto c = coordinator_for(api, {"--join-backend", "kubeadm"});
    auto n = make_node(*c, "pi");
    test::child agent(agent_argv(n, api), n.log, agent_env(n, api));

    // While the node waits to be Ready, its own token exists, shaped as Kubernetes defines one.
    wait_for([&] { return phase_is(*c, "node-1", "joined"); }, n, *c);
    const auto secrets = api.bootstrap_secrets();
    REQUIRE(secrets.size() == 1);
    auto data = secret_data(api, secrets[0]);
    CHECK(secrets[0] == "bootstrap-token-" + data["token-id"]);
    CHECK(data["auth-extra-groups"] == "system:bootstrappers:kubeadm:default-node-token");
    CHECK(data["usage-bootstrap-authentication"] == "true");
    CHECK(data["usage-bootstrap-signing"] == "true");
    CHECK_THAT(data["description"], Catch::Contains("node-1"));
    const auto expires = proto::from_rfc3339(data["expiration"]);
    REQUIRE(expires);
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(*expires - proto::clock::now()).count();
    CHECK(left > 14 * 60);
    CHECK(left <= 15 * 60);

    // kubeadm got a JoinConfiguration for its version, pinned to the cluster CA, with that token, in a 0600 file.
    const std::string yaml = test::read(n.records + "/node-1.yaml");
    CHECK_THAT(yaml, Catch::StartsWith("apiVersion: kubeadm.k8s.io/v1beta3\n"));
    CHECK_THAT(yaml, Catch::Contains("  name: \"node-1\""));
    CHECK_THAT(yaml, Catch::Contains("apiServerEndpoint: \"" + api.endpoint() + "\""));
    CHECK_THAT(yaml, Catch::Contains("token: \"" + data["token-id"] + "." + data["token-secret"] + "\""));
    auto cluster_ca = proto::certificate_from_pem(test::read(api.api_dir() + "/ca.crt"));
    CHECK_THAT(yaml, Catch::Contains("- \"" + proto::spki_pin(*cluster_ca) + "\""));
    CHECK(test::read(n.records + "/node-1.mode") == "600\n");
    // Removed once kubeadm has exited, which may be a moment after the Node registered.
    wait_for([&] { return !std::filesystem::exists(n.root + "/var/lib/graft/join-configuration.yaml"); }, n, *c);

    bring_to_ready(*c, api, agent, n, "node-1");
    CHECK(test::eventually([&] { return api.bootstrap_secrets().empty(); }));
    CHECK(c->log().find(data["token-secret"]) == std::string::npos);
    CHECK(test::read(n.log).find(data["token-secret"]) == std::string::npos);

    // The coordinator's record shows the whole way.
    auto status = test::run({GRAFT_COORDINATOR_BIN, "status", "--config", c->config_path()});
    CHECK_THAT(status.output, Catch::Contains("cluster: watching Nodes, Kubernetes v1.29.3") &&
                                  Catch::Contains("node-1") && Catch::Contains("ready"));
    const std::string journal = c->log();
    for (const char* phase : {"enrolled from", "is configuring", "is configured", "is joining", "is joined", "is Ready"})
        CHECK_THAT(journal, Catch::Contains(std::string("node node-1 ") + phase));
    CHECK_THAT(journal, Catch::Contains("revoked the join credential " + data["token-id"] + " of node-1"));
}

TEST_CASE("a Ready Node of another machine keeps its name: the new machine is enrolled under another, joins and is Ready") {
    kube_api_process api;
    // A machine graft never enrolled already runs as node-1 in the cluster.
    REQUIRE(api.call("POST", "/_test/nodes/node-1/ready?status=True&machine=" + std::string(32, 'f')).status == 200);
    auto c = coordinator_for(api, {"--join-backend", "kubeadm"});
    // The Node watch has listed the cluster before the agent comes.
    CHECK(test::eventually([&] {
        return test::run({GRAFT_COORDINATOR_BIN, "status", "--config", c->config_path()}).output.find("watching Nodes") !=
               std::string::npos;
    }));
    auto n = make_node(*c, "pi");
    test::child agent(agent_argv(n, api), n.log, agent_env(n, api));
    wait_for([&] { return phase_is(*c, "node-2", "joined"); }, n, *c);
    CHECK_FALSE(node_status(*c, "node-1"));
    // The Node kubelet registered for node-2 carries this machine's id, so it is graft's node-2 that becomes Ready.
    bring_to_ready(*c, api, agent, n, "node-2");
}

TEST_CASE("a k3s node gets a K10 secure token of its own, writes k3s's config, and its token is gone once Ready") {
    kube_api_process api;
    auto c = coordinator_for(api, {"--join-backend", "k3s", "--kube-endpoint", api.endpoint()});
    auto n = make_node(*c, "pi");
    test::child agent(agent_argv(n, api), n.log, agent_env(n, api));
    wait_for([&] { return std::filesystem::exists(n.root + "/etc/rancher/k3s/config.yaml.d/90-graft.yaml"); }, n, *c);
    wait_for([&] { return phase_is(*c, "node-1", "joined"); }, n, *c);

    // k3s's config names the server, the node and a 0600 token file holding K10<sha256 of the CA PEM>::<id>.<secret>.
    const std::string config = test::read(n.root + "/etc/rancher/k3s/config.yaml.d/90-graft.yaml");
    CHECK_THAT(config, Catch::Contains("server: \"https://" + api.endpoint() + "\""));
    CHECK_THAT(config, Catch::Contains("node-name: \"node-1\""));
    CHECK_THAT(config, Catch::Contains("token-file: \"/etc/rancher/k3s/graft-token\""));
    CHECK(test::file_mode(n.root + "/etc/rancher/k3s/graft-token") == 0600);
    std::string token = test::read(n.root + "/etc/rancher/k3s/graft-token");
    token.pop_back();
    const std::string prefix = "K10" + proto::sha256_hex(test::read(api.api_dir() + "/ca.crt")) + "::";
    REQUIRE_THAT(token, Catch::StartsWith(prefix));
    const std::string bootstrap = token.substr(prefix.size());
    CHECK(proto::is_bootstrap_token(bootstrap));
    const auto secrets = api.bootstrap_secrets();
    REQUIRE(secrets == std::vector<std::string>{"bootstrap-token-" + bootstrap.substr(0, 6)});
    CHECK(secret_data(api, secrets[0])["auth-extra-groups"] == "system:bootstrappers:k3s:default-node-token");

    // The test plays k3s-agent, which registers the node with that token (the sandbox has no systemd to start it).
    auto registered = test::curl("https://" + api.endpoint() + "/api/v1/nodes",
                                 {"-k", "-X", "POST", "-H", "Authorization: Bearer " + bootstrap, "-d",
                                  R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1"}})"});
    REQUIRE(registered.status == 201);
    bring_to_ready(*c, api, agent, n, "node-1");
    CHECK(test::eventually([&] { return api.bootstrap_secrets().empty(); }));
}

TEST_CASE("a k0s node joins with a token from k0s token create, which is invalidated once Ready") {
    kube_api_process api;
    auto c = coordinator_for(api, {"--join-backend", "k0s", "--join-command", fixtures + "/stub-k0s token create --role=worker"});
    auto n = make_node(*c, "pi");
    test::child agent(agent_argv(n, api), n.log, agent_env(n, api));
    wait_for([&] { return phase_is(*c, "node-1", "joined"); }, n, *c);

    // The coordinator asked k0s for a worker token with graft's lifetime; the node installed the worker with it.
    const std::string calls = test::read(c->dir() / "coordinator-records/calls.log");
    CHECK_THAT(calls, Catch::Contains("token create --role=worker --expiry=900s"));
    const auto secrets = api.bootstrap_secrets();
    REQUIRE(secrets.size() == 1);
    const std::string install = test::read(n.records + "/install.args");
    CHECK_THAT(install, Catch::Contains("--token-file\n" + n.root + "/etc/k0s/graft-join-token\n"));
    CHECK_THAT(install, Catch::Contains("--kubelet-extra-args=--hostname-override=node-1"));
    CHECK(test::read(n.records + "/token-file.mode") == "600\n");
    // The Node registers during `k0s install worker`, so the coordinator may show joined before the agent has run
    // `k0s start`: wait for that call rather than race it.
    wait_for([&] { return test::read(n.records + "/calls.log").find("\nstart\n") != std::string::npos; }, n, *c);

    bring_to_ready(*c, api, agent, n, "node-1");
    CHECK(test::eventually([&] { return api.bootstrap_secrets().empty(); }));
    CHECK_THAT(test::read(c->dir() / "coordinator-records/calls.log"),
               Catch::Contains("token invalidate " + secrets[0].substr(std::string("bootstrap-token-").size())));
}

TEST_CASE("a token that expires before the node uses it is replaced by a fresh one, and the join succeeds") {
    kube_api_process api;
    auto c = coordinator_for(api, {"--join-backend", "kubeadm", "--join-token-ttl", "2s"});
    auto n = make_node(*c, "pi");
    // kubeadm on this node takes 3 s to start its first join: the 2 s token has expired by then.
    auto env = agent_env(n, api);
    env["STUB_KUBEADM_FIRST_DELAY"] = "3";
    test::child agent(agent_argv(n, api), n.log, env);
    wait_for([&] { return phase_is(*c, "node-1", "joined"); }, n, *c, std::chrono::seconds(30));

    // The stub logs its success after registering the Node, so the coordinator may show joined a moment before.
    wait_for([&] { return test::read(n.records + "/joins.log").find("join node-1 ok") != std::string::npos; }, n, *c);
    CHECK_THAT(test::read(n.records + "/joins.log"), Catch::Contains("join node-1 refused: no JWS for"));
    CHECK(test::read(n.records + "/resets") == "reset\n");  // kubeadm reset -f after the failed attempt
    CHECK_THAT(test::read(n.log), Catch::Contains("could not find a JWS signature in the cluster-info ConfigMap"));
    // The failure was reported before the retry, with kubeadm's words.
    CHECK_THAT(c->log(), Catch::Contains("node node-1 is failed: ") && Catch::Contains("could not find a JWS signature"));
    bring_to_ready(*c, api, agent, n, "node-1");
}

TEST_CASE("a kubelet newer than the API server is refused with the version to install, in status and journal") {
    kube_api_process api("v1.29.3");
    auto c = coordinator_for(api, {"--join-backend", "kubeadm"});
    auto n = make_node(*c, "pi");
    auto env = agent_env(n, api);
    env["STUB_KUBELET_VERSION"] = "v1.30.1";
    auto r = test::run(agent_argv(n, api, {"--max-join-attempts", "1"}), env);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("kubelet v1.30.1 is newer than the cluster's API server (1.29)") &&
                             Catch::Contains("install kubelet 1.29.x"));
    auto s = node_status(*c, "node-1");
    REQUIRE(s);
    CHECK(s->phase == "failed");
    CHECK_THAT(s->reason, Catch::Contains("install kubelet 1.29.x"));
    CHECK_THAT(c->log(), Catch::Contains("refused a join credential for node-1"));
    CHECK(api.bootstrap_secrets().empty());  // nothing was issued
}

TEST_CASE("a watch cut mid-stream, and one whose version was compacted away, recover without losing a transition") {
    kube_api_process api;
    auto c = coordinator_for(api, {"--join-backend", "kubeadm"});
    auto n = make_node(*c, "pi");
    test::child agent(agent_argv(n, api), n.log, agent_env(n, api));
    wait_for([&] { return phase_is(*c, "node-1", "joined"); }, n, *c);
    wait_for([&] { return node_status(*c, "node-1")->reason.find("cni") != std::string::npos; }, n, *c);

    // Cut: the Node turns Ready while the coordinator is reconnecting; the re-watch from its last version brings it.
    REQUIRE(api.call("POST", "/_test/watch/drop").status == 200);
    REQUIRE(api.call("POST", "/_test/nodes/node-1/ready?status=True").status == 200);
    CHECK(test::eventually([&] { return phase_is(*c, "node-1", "ready"); }));
    CHECK(agent.wait(std::chrono::seconds(30)) == 0);

    // Compacted: the history is gone, so the re-watch gets 410 Gone and the coordinator lists afresh.
    REQUIRE(api.call("POST", "/_test/nodes/node-1/ready?status=False").status == 200);
    wait_for([&] { return phase_is(*c, "node-1", "joined"); }, n, *c);
    REQUIRE(api.call("POST", "/_test/compact").status == 200);
    REQUIRE(api.call("POST", "/_test/watch/drop").status == 200);
    REQUIRE(api.call("POST", "/_test/nodes/node-1/ready?status=True").status == 200);
    CHECK(test::eventually([&] { return phase_is(*c, "node-1", "ready"); }));
    CHECK_THAT(c->log(), Catch::Contains("is gone (410); listing the Nodes afresh"));

    // A Node deleted from the cluster shows as deleted.
    REQUIRE(api.call("DELETE", "/api/v1/nodes/node-1").status == 200);
    CHECK(test::eventually([&] { return phase_is(*c, "node-1", "deleted"); }));
}

TEST_CASE("an API server answering 401, 403 or 500, and a malformed watch event, are clear errors and serving goes on") {
    kube_api_process api;
    auto c = coordinator_for(api, {"--join-backend", "kubeadm"});
    REQUIRE(test::eventually([&] { return cluster_view(*c).at("state") == "watching Nodes"; }));

    const std::vector<std::pair<int, std::string>> cases{{401, "401 Unauthorized"}, {403, "403 Forbidden"}, {500, "HTTP 500"}};
    for (const auto& [status, words] : cases) {
        auto n = make_node(*c, "n" + std::to_string(status));
        // Every API call fails from now on, until the test lifts it.
        REQUIRE(api.call("POST", "/_test/fail?status=" + std::to_string(status) + "&count=1000").status == 200);
        auto r = test::run(agent_argv(n, api, {"--max-join-attempts", "1"}), agent_env(n, api));
        INFO(r.output);
        CHECK(r.exit_code == 1);  // the join request got 503 every time; one attempt allowed
        CHECK_THAT(r.output, Catch::Contains(words));
        CHECK_THAT(cluster_view(*c).at("last_error").get<std::string>(), Catch::Contains(words));
        CHECK_THAT(c->log(), Catch::Contains(words));
        CHECK(test::curl(c->url() + "/healthz", {"--cacert", c->ca_path()}).status == 200);
        REQUIRE(api.call("POST", "/_test/fail?status=200&count=0").status == 200);
    }

    REQUIRE(test::eventually([&] { return cluster_view(*c).at("state") == "watching Nodes"; }, std::chrono::seconds(40)));
    REQUIRE(api.call("POST", "/_test/watch/garbage").status == 200);
    CHECK(test::eventually([&] {
        return cluster_view(*c).at("last_error").get<std::string>().find("malformed event") != std::string::npos;
    }));
    CHECK(test::curl(c->url() + "/healthz", {"--cacert", c->ca_path()}).status == 200);
    auto status = test::run({GRAFT_COORDINATOR_BIN, "status", "--config", c->config_path()});
    CHECK_THAT(status.output, Catch::Contains("last cluster error at") && Catch::Contains("malformed event"));
}

TEST_CASE("a kubeconfig with a missing user or an unreadable key is reported, and the coordinator serves on") {
    kube_api_process api;
    test::temp_dir dir;
    std::string conf = test::read(api.kubeconfig());
    // The key moves to a file the coordinator cannot read (a directory stands in: reading it fails for root too).
    const auto key_at = conf.find("client-key-data: ");
    conf = conf.substr(0, key_at) + "client-key: " + dir / "key-dir" + "\n";
    std::filesystem::create_directories(dir / "key-dir");
    test::write(dir / "unreadable-key.conf", conf);
    std::string no_user = test::read(api.kubeconfig());
    no_user.replace(no_user.find("user: kubernetes-admin"), 22, "user: somebody-else");
    test::write(dir / "no-user.conf", no_user);

    for (const auto& [file, words] : std::vector<std::pair<std::string, std::string>>{
             {dir / "no-user.conf", "user 'somebody-else' of context"}, {dir / "unreadable-key.conf", "user.client-key"}}) {
        // Initialised with a good kubeconfig; then the file goes bad under the running coordinator's feet.
        coordinator_process c({"--join-backend", "kubeadm", "--kubeconfig", api.kubeconfig()});
        auto config = test::read(c.config_path());
        config.replace(config.find(api.kubeconfig()), api.kubeconfig().size(), file);
        test::write(c.config_path(), config);
        c.start();
        INFO(c.log());
        CHECK(test::eventually([&] {
            return cluster_view(c).at("last_error").get<std::string>().find(words) != std::string::npos;
        }));
        CHECK_THAT(c.log(), Catch::Contains(file) && Catch::Contains(words));
        auto n = make_node(c, "pi");
        auto r = test::run(agent_argv(n, api, {"--max-join-attempts", "1"}), agent_env(n, api));
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("enrolled as node-1") && Catch::Contains(words));
        CHECK(test::curl(c.url() + "/healthz", {"--cacert", c.ca_path()}).status == 200);
    }
}
