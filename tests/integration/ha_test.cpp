// Several coordinators serving one fleet from a real etcd cluster (Debian's etcd-server, three members on 127.0.0.1):
// the shared CA, single-use tokens spent once whichever coordinator is asked, enrollment going on while a coordinator
// is killed and an etcd member stopped, and the Node watch's leader handing over. The cluster's side of the Node
// watch is the Kubernetes API double (tests/support/kube_api_double.cpp).
#include "proto/messages.hpp"
#include "proto/pki.hpp"
#include "proto/time.hpp"
#include "support/coordinator_api.hpp"
#include "support/etcd_cluster.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

using namespace graft;
using test::coordinator_process;

namespace {

// Where etcd is and how to reach it; etcd_flags adds init's --registry etcd.
std::vector<std::string> etcd_connection(const test::etcd_cluster& etcd, const std::string& prefix = "/graft/test/") {
    return {"--etcd-endpoints", etcd.endpoints_flag(), "--etcd-ca", etcd.ca_file(), "--etcd-cert", etcd.cert_file(),
            "--etcd-key", etcd.key_file(), "--etcd-prefix", prefix};
}

std::vector<std::string> etcd_flags(const test::etcd_cluster& etcd, const std::string& prefix = "/graft/test/") {
    auto flags = etcd_connection(etcd, prefix);
    flags.insert(flags.begin(), {"--registry", "etcd"});
    return flags;
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// A second coordinator for the fleet of `first`: init with the certificate-key file the first one's init wrote.
std::vector<std::string> joining_flags(const test::etcd_cluster& etcd, const coordinator_process& first) {
    return with(etcd_flags(etcd), {"--certificate-key-file", first.state_dir() + "/certificate-key"});
}

// Two coordinators serving, on a three-member etcd.
struct two_coordinators {
    test::etcd_cluster etcd{3};
    coordinator_process a{etcd_flags(etcd)};
    coordinator_process b{joining_flags(etcd, a)};
    two_coordinators() {
        a.start();
        b.start();
    }
};

proto::json tokens(const coordinator_process& c) {
    auto r = test::run({GRAFT_COORDINATOR_BIN, "tokens", "list", "--config", c.config_path(), "--json"});
    REQUIRE(r.exit_code == 0);
    return proto::parse_json(r.output.substr(r.output.find('[')));
}

// Every node the registry holds, as an operator lists them (from any coordinator: they share it).
std::vector<proto::json> listed_nodes(const coordinator_process& c) {
    auto r = test::api::get(c, "/v1/nodes?limit=10000");
    REQUIRE(r.status == 200);
    const auto listing = proto::parse_json(r.body);
    return listing.at("nodes").get<std::vector<proto::json>>();
}

// An enrollment asked as an agent asks it: again after the Retry-After of a 429 or 503.
test::curl_result enroll_as_agent(coordinator_process& c, const std::string& body) {
    for (;;) {
        auto r = test::api::post(c, "/v1/enroll", body);
        if (r.status != 429 && r.status != 503) return r;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

// A sample's value from the coordinator's /metrics; -1 when it has none (or does not answer).
double metric(const coordinator_process& c, const std::string& name) {
    auto r = test::api::get(c, "/metrics");
    if (r.status != 200) return -1;
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
    return -1;
}

}  // namespace

TEST_CASE("a second coordinator opens the fleet's CA from etcd with the first one's certificate key, and only with it") {
    test::etcd_cluster etcd(1);
    coordinator_process first(etcd_flags(etcd));
    CHECK(test::file_mode(first.state_dir() + "/certificate-key") == 0600);

    // Without the key file, and with a wrong one: refused, saying what to give, and nothing written.
    test::temp_dir second;
    const std::string dir = second / "coordinator";
    auto init = [&](std::vector<std::string> extra) {
        return test::run(with({GRAFT_COORDINATOR_BIN, "init", "--dir", dir, "--advertise", "127.0.0.1:" + std::to_string(test::free_port()),
                               "--join-backend", "kubeadm-cli"},
                              with(etcd_flags(etcd), extra)));
    };
    auto missing = init({});
    CHECK(missing.exit_code == 2);
    CHECK_THAT(missing.output, Catch::Contains("--certificate-key-file") && Catch::Contains("/graft/test/"));
    test::write(second / "wrong-key", std::string(64, '0') + "\n");
    auto wrong = init({"--certificate-key-file", second / "wrong-key"});
    CHECK(wrong.exit_code == 1);
    CHECK_THAT(wrong.output, Catch::Contains("does not open the CA"));
    CHECK_FALSE(std::filesystem::exists(dir + "/ca.key"));
    CHECK_FALSE(std::filesystem::exists(dir + "/config.json"));

    // With it: the same CA (agents pin one), a server certificate of its own for its own address.
    coordinator_process other(joining_flags(etcd, first));
    CHECK(test::read(other.ca_path()) == test::read(first.ca_path()));
    CHECK(test::read(other.state_dir() + "/server.key") != test::read(first.state_dir() + "/server.key"));
    CHECK(test::file_mode(other.state_dir() + "/ca.key") == 0600);
    CHECK_FALSE(std::filesystem::exists(other.state_dir() + "/certificate-key"));

    // A graft.json from either names both, the one that made it first.
    const auto boot = proto::parse_json(other.boot_config());
    CHECK(boot.at("coordinator") == other.url());
    CHECK(boot.at("coordinators") == proto::json::array({other.url(), first.url()}));

    // A node enrolled at one is known to the other, and its certificate speaks for it there.
    first.start();
    other.start();
    auto node = test::api::enroll(first);
    CHECK(test::api::post(other, "/v1/nodes/" + node.name + "/report", R"({"phase":"joining"})", node.curl_identity()).status == 200);
    CHECK(test::api::get(first, "/v1/nodes/" + node.name).body.find("\"joining\"") != std::string::npos);
}

TEST_CASE("100 concurrent replays of a single-use token across two coordinators enroll exactly one machine") {
    two_coordinators fleet_of_two;
    auto& [etcd, a, b] = fleet_of_two;
    const std::string once = a.boot_config({"--token-uses", "1"});
    const std::string token = test::api::token_of(once);

    std::vector<std::string> bodies;
    for (int i = 0; i < 100; ++i) bodies.push_back(test::api::enroll_body(token, *proto::generate_p256_key()));
    std::vector<test::curl_result> answers(100);
    std::vector<std::thread> threads;
    for (int i = 0; i < 100; ++i)
        threads.emplace_back([&, i] { answers[i] = enroll_as_agent(i % 2 ? b : a, bodies[i]); });
    for (auto& t : threads) t.join();

    int accepted = 0, used_up = 0;
    for (const auto& r : answers) {
        if (r.status == 200) ++accepted;
        else if (r.status == 401 && test::api::error_code(r) == "enrollment_token_used_up") ++used_up;
        else FAIL("unexpected answer " + std::to_string(r.status) + ": " + r.body);
    }
    CHECK(accepted == 1);
    CHECK(used_up == 99);
    // Each coordinator's listing catches up with the other's writes within a second.
    CHECK(test::eventually([&] { return listed_nodes(a).size() == 1 && listed_nodes(b).size() == 1; }, std::chrono::seconds(5)));
    for (const auto& t : tokens(b))
        if (token.rfind(t.at("id").get<std::string>() + ".", 0) == 0) {
            CHECK(t.at("used") == 1);
            CHECK(t.at("uses_left") == 0);
        }
}

TEST_CASE("200 agents enroll across two coordinators while one is killed and an etcd member stopped, and none is lost") {
    two_coordinators fleet_of_two;
    auto& [etcd, a, b] = fleet_of_two;
    const std::string boot = a.boot_config();  // made now that both are in etcd's list
    test::write(a.dir() / "fleet.json", boot);
    REQUIRE(proto::parse_json(boot).at("coordinators").size() == 2);

    const std::string record = a.dir() / "enrolled";
    test::child fleet({GRAFT_FLEET_BIN, "--boot-config", a.dir() / "fleet.json", "--nodes", "200", "--concurrency", "20", "--sources", "50",
                       "--enroll-only", "--record", record},
                      a.dir() / "fleet.log", a.env());
    // Once enrollments are under way: the coordinator half the agents talk to dies, and so does a member of etcd.
    REQUIRE(test::eventually([&] { return metric(a, "graft_enrollments_total{outcome=\"accepted\"}") >= 1; },
                             std::chrono::seconds(30)));
    a.kill9();
    etcd.stop(2);
    CHECK(fleet.wait(std::chrono::seconds(80)) == 0);
    const std::string output = test::read(a.dir() / "fleet.log");
    INFO(output);
    CHECK_THAT(output, Catch::Contains("200 completed, 0 failed"));

    // Every acknowledged enrollment is there, under the name it was given, each name once.
    REQUIRE(test::eventually([&] { return listed_nodes(b).size() >= 200; }, std::chrono::seconds(5)));
    CHECK(listed_nodes(b).size() == 200);
    std::istringstream acknowledged(test::read(record));
    std::set<std::string> names;
    for (std::string name, machine_id; acknowledged >> name >> machine_id;) {
        CHECK(names.insert(name).second);
        auto details = test::api::get(b, "/v1/nodes/" + name + "/details");
        REQUIRE(details.status == 200);
        CHECK(proto::parse_json(details.body).at("facts").at("machine_id") == machine_id);
    }
    CHECK(names.size() == 200);
    // The token counted each node once: an enrollment asked again after its coordinator died spent nothing more.
    for (const auto& t : tokens(b))
        if (test::api::token_of(boot).rfind(t.at("id").get<std::string>() + ".", 0) == 0)
            CHECK(t.at("used") == 200);

    // The member comes back and catches up; the killed coordinator starts again and sees the same fleet.
    etcd.start(2);
    a.start();
    CHECK(listed_nodes(a).size() == 200);
    CHECK(test::eventually([&] { return etcd.healthy(2); }));
}

TEST_CASE("one coordinator leads the Node watch, and when it is killed the other takes over and marks nodes ready") {
    test::etcd_cluster etcd(3);
    test::kube_api_process api;
    auto make = [&](std::vector<std::string> flags) {
        auto c = std::make_unique<coordinator_process>(with(flags, {"--join-backend", "kubeadm", "--kubeconfig", api.kubeconfig()}));
        c->add_serve_flags({"--watch-timeout", "5", "--kube-retry-max-ms", "2000"});
        c->add_env("STUB_KUBE_API_DIR", api.api_dir());
        return c;
    };
    auto a = make(etcd_flags(etcd));
    auto b = make(joining_flags(etcd, *a));
    a->start();
    b->start();

    std::vector<coordinator_process*> both{a.get(), b.get()};
    auto leaders = [&] {
        int n = 0;
        for (auto* c : both) n += metric(*c, "graft_node_watch_leader") == 1;
        return n;
    };
    REQUIRE(test::eventually([&] { return leaders() == 1; }, std::chrono::seconds(20)));
    auto* leader = metric(*a, "graft_node_watch_leader") == 1 ? a.get() : b.get();
    auto* other = leader == a.get() ? b.get() : a.get();
    CHECK(metric(*other, "graft_node_watch_leader") == 0);

    // A node that has joined, whose Node turns Ready only once the leader is gone.
    const std::string machine_id = test::random_machine_id();
    auto node = test::api::enroll(*other, "raspberrypi", machine_id);
    for (const char* phase : {R"({"phase":"joining"})", R"({"phase":"joined"})"})
        REQUIRE(test::api::post(*other, "/v1/nodes/" + node.name + "/report", phase, node.curl_identity()).status == 200);
    leader->kill9();
    REQUIRE(api.call("POST", "/_test/nodes/" + node.name + "/ready?status=True&machine=" + machine_id).status == 200);

    // The lease of the killed leader runs out (6 s), and the other leads within a second or two of that.
    CHECK(test::eventually([&] { return metric(*other, "graft_node_watch_leader") == 1; }, std::chrono::seconds(15)));
    CHECK(test::eventually([&] {
        return test::api::get(*other, "/v1/nodes/" + node.name).body.find("\"ready\"") != std::string::npos;
    }, std::chrono::seconds(15)));
    CHECK_THAT(other->log(), Catch::Contains("leads the Node watch now"));
}

TEST_CASE("an agent whose first coordinator is down enrolls and joins through the next one in graft.json at once") {
    test::etcd_cluster etcd(1);
    coordinator_process a(etcd_flags(etcd));
    coordinator_process b(joining_flags(etcd, a));
    b.start();  // a is down: initialised, never started
    const std::string root = a.dir() / "node", config = root + "/boot/firmware/graft.json", log = a.dir() / "node.log";
    test::make_node_root(root);
    test::write(config, a.boot_config());  // a first, then b
    test::child agent({GRAFT_AGENT_BIN, "run", "--config", config, "--root", root, "--join-command",
                       std::string(GRAFT_FIXTURES_DIR) + "/fake-kubeadm", "--retry-initial-ms", "5000", "--retry-max-ms",
                       "5000", "--exit-when-ready"},
                      log, b.env());
    // Well within the five seconds a retry of the same coordinator would wait.
    CHECK(agent.wait(std::chrono::seconds(4)) == 0);
    INFO(test::read(log));
    CHECK_THAT(test::read(log), Catch::Contains("asking the coordinator at 127.0.0.1:" + std::to_string(b.port()) + " instead"));
    CHECK(proto::parse_json(test::read(root + "/var/lib/graft/state.json")).at("phase") == "joined");
    CHECK(listed_nodes(b).size() == 1);
}

TEST_CASE("an operator asking one coordinator gets the journal of a node that heartbeats to another, and its last-seen") {
    test::etcd_cluster etcd(1);
    coordinator_process a(etcd_flags(etcd));
    coordinator_process b(joining_flags(etcd, a));
    a.start();
    b.start();
    auto node = test::api::enroll(a, "raspberrypi", test::random_machine_id());

    // The operator works with b: `logs --fresh` asks, then waits for the answer.
    test::child logs({GRAFT_COORDINATOR_BIN, "logs", node.name, "-u", "kubelet.service", "--fresh", "--credentials",
                      b.operator_credentials()},
                     b.dir() / "logs.out", b.env());
    // The node's agent heartbeats to a, as its graft.json lists a first; the request reaches it there.
    proto::json handed;
    REQUIRE(test::eventually([&] {
        auto beat = test::api::post(a, "/v1/nodes/" + node.name + "/heartbeat", "{}", node.curl_identity());
        if (beat.status != 200) return false;
        handed = proto::parse_json(beat.body).at("journal_requests");
        return !handed.empty();
    }));
    REQUIRE(handed.size() == 1);
    CHECK(handed[0].at("unit") == "kubelet.service");
    // b has never heard from the node itself, yet knows when a last did, within the second or two of an exchange.
    CHECK(test::eventually([&] {
        auto status = proto::parse_json(test::api::get(b, "/v1/nodes/" + node.name).body);
        auto seen = proto::from_rfc3339(status.value("last_seen", ""));
        return seen && proto::clock::now() - *seen < std::chrono::seconds(10);
    }, std::chrono::seconds(10)));
    // Handed out once: a heartbeat to b afterwards finds nothing more.
    auto again = test::api::post(b, "/v1/nodes/" + node.name + "/heartbeat", "{}", node.curl_identity());
    CHECK(proto::parse_json(again.body).at("journal_requests").empty());

    proto::journal_upload upload{{{"kubelet.service", "asked for by an operator", proto::to_rfc3339(proto::clock::now()),
                                   {"Dec 03 10:00:00 node kubelet[42]: E1203 failed to run Kubelet: unable to load "
                                    "bootstrap kubeconfig"}}},
                                 handed[0].at("id").get<std::string>()};
    REQUIRE(test::api::post(a, "/v1/nodes/" + node.name + "/journal", upload.to_json().dump(), node.curl_identity())
                .status == 200);
    CHECK(logs.wait(std::chrono::seconds(20)) == 0);
    const auto printed = test::read(b.dir() / "logs.out");
    INFO(printed);
    CHECK_THAT(printed, Catch::Contains("unable to load bootstrap kubeconfig"));
}

TEST_CASE("migrate moves a running coordinator's fleet into etcd: the same nodes and token uses, the old registry frozen") {
    test::etcd_cluster etcd(1);
    coordinator_process c;
    c.start();
    const std::string five = c.boot_config({"--token-uses", "5"});
    std::vector<test::api::enrolled_node> enrolled;
    for (int i = 0; i < 3; ++i) enrolled.push_back(test::api::enroll(c, "raspberrypi", test::random_machine_id(), five));
    REQUIRE(test::api::post(c, "/v1/nodes/" + enrolled[0].name + "/report", R"({"phase":"joining"})", enrolled[0].curl_identity()).status == 200);
    const auto before = listed_nodes(c);

    // Refused: a --from that is not sqlite:DIR; a prefix that holds keys already. Neither changes anything.
    auto bad = test::run(with({GRAFT_COORDINATOR_BIN, "migrate", "--from", c.state_dir(), "--to", "etcd"}, etcd_connection(etcd)));
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.output, Catch::Contains("--from takes sqlite:DIR"));
    coordinator_process squatter(etcd_flags(etcd, "/graft/taken/"));
    auto taken = test::run(with({GRAFT_COORDINATOR_BIN, "migrate", "--from", "sqlite:" + c.state_dir(), "--to", "etcd"},
                                etcd_connection(etcd, "/graft/taken/")));
    CHECK(taken.exit_code == 1);
    CHECK_THAT(taken.output, Catch::Contains("holds keys under /graft/taken/ already"));
    CHECK(proto::parse_json(test::read(c.config_path())).contains("registry") == false);
    CHECK(test::api::enroll(c, "raspberrypi", test::random_machine_id(), five).name == "node-4");  // still writable

    // While it runs.
    auto moved = test::run(with({GRAFT_COORDINATOR_BIN, "migrate", "--from", "sqlite:" + c.state_dir(), "--to", "etcd"},
                                etcd_connection(etcd)));
    INFO(moved.output);
    REQUIRE(moved.exit_code == 0);
    CHECK_THAT(moved.output, Catch::Contains("copied 4 node(s)"));
    CHECK(proto::parse_json(test::read(c.config_path())).at("registry").at("backend") == "etcd");

    // The old process writes nowhere now: its registry refuses, and the agent is told to come back.
    auto refused = test::api::post(c, "/v1/enroll", test::api::enroll_body(test::api::token_of(five), *proto::generate_p256_key()));
    CHECK(refused.status >= 500);

    // Restarted on etcd: the same fleet, the token's five uses four spent, the nodes' certificates good.
    c.stop();
    c.start();
    const auto after = listed_nodes(c);
    REQUIRE(after.size() == before.size() + 1);
    for (std::size_t i = 0; i < before.size(); ++i) {
        CHECK(after[i].at("name") == before[i].at("name"));
        CHECK(after[i].at("phase") == before[i].at("phase"));
        CHECK(after[i].at("enrolled_at") == before[i].at("enrolled_at"));
    }
    CHECK(test::api::post(c, "/v1/nodes/" + enrolled[1].name + "/report", R"({"phase":"joining"})", enrolled[1].curl_identity()).status == 200);
    CHECK(test::api::enroll(c, "raspberrypi", test::random_machine_id(), five).name == "node-5");
    auto sixth = test::api::post(c, "/v1/enroll", test::api::enroll_body(test::api::token_of(five), *proto::generate_p256_key()));
    CHECK(sixth.status == 401);
    CHECK(test::api::error_code(sixth) == "enrollment_token_used_up");

    // Another coordinator joins the migrated fleet as after an init.
    coordinator_process other(joining_flags(etcd, c));
    CHECK(test::read(other.ca_path()) == test::read(c.ca_path()));
}
