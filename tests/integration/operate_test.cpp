// Operating the fleet from the coordinator, as an operator does it: the real graft-coordinator and graft-agent,
// curl for the API, the CLI's own output, promtool for /metrics, a real journald for the node's journal, and
// Debian's Chromium for the dashboard.
#include "proto/time.hpp"
#include "support/browser.hpp"
#include "support/coordinator_api.hpp"
#include "support/journald.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include <signal.h>

#include <filesystem>
#include <thread>

using namespace graft;
using namespace graft::test::api;
using test::coordinator_process;
using test::curl;

namespace {

const std::string joining = R"({"phase": "joining"})";

// graft-coordinator run as an operator on another machine would: with the credentials file only.
proto::process_result as_operator(coordinator_process& c, std::vector<std::string> argv) {
    argv.insert(argv.begin(), GRAFT_COORDINATOR_BIN);
    argv.push_back("--credentials");
    argv.push_back(c.operator_credentials());
    return test::run(argv);
}

std::string report(const std::string& phase, const std::string& message) {
    return proto::json{{"phase", phase}, {"message", message}}.dump();
}

// Every line of `text` that is not a note in parentheses, at most `width` columns.
std::size_t widest_line(const std::string& text) {
    std::size_t widest = 0, start = 0;
    for (auto nl = text.find('\n'); nl != std::string::npos; start = nl + 1, nl = text.find('\n', start))
        if (text[start] != '(') widest = std::max(widest, nl - start);
    return widest;
}

// graft-agent's command line for a node in a sandbox root (made here, with graft.json on its boot partition) that
// joins with the fake kubeadm and reads `journal` for the excerpts it sends.
std::vector<std::string> sandboxed_agent(const coordinator_process& c, const test::private_journald& journal,
                                         const std::vector<std::string>& extra) {
    const std::string root = c.dir() / "node";
    test::make_node_root(root);
    test::write(root + "/boot/firmware/graft.json", c.boot_json());
    std::string journalctl;
    for (const auto& a : journal.journalctl()) journalctl += (journalctl.empty() ? "" : " ") + a;
    std::vector<std::string> argv{GRAFT_AGENT_BIN, "run", "--config", root + "/boot/firmware/graft.json", "--root", root,
                                  "--join-command", std::string(GRAFT_FIXTURES_DIR) + "/fake-kubeadm",
                                  "--retry-initial-ms", "100", "--retry-max-ms", "1000", "--journalctl", journalctl};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

const std::string long_reason =
    "NotReady: KubeletNotReady: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
    "message:Network plugin returns error: cni plugin not initialized; install a CNI plugin (Flannel, Calico) on the "
    "control plane";

}  // namespace

TEST_CASE("a node's certificate, or none, is refused on every operator endpoint over TLS, and an operator's is taken") {
    coordinator_process c;
    c.start();
    auto node = enroll(c);
    struct endpoint {
        const char* method;
        std::string path;
    };
    const std::vector<endpoint> reads{{"GET", "/v1/nodes"},
                                      {"GET", "/v1/nodes?watch=true"},
                                      {"GET", "/v1/nodes/" + node.name},
                                      {"GET", "/v1/nodes/" + node.name + "/details"},
                                      {"GET", "/v1/nodes/" + node.name + "/journal"},
                                      {"POST", "/v1/nodes/" + node.name + "/journal-requests"},
                                      {"GET", "/metrics"},
                                      {"POST", "/v1/dashboard/sessions"}};
    for (const auto& e : reads) {
        INFO(e.method << " " << e.path);
        std::vector<std::string> base{"--cacert", c.ca_path(), "-X", e.method, "--max-time", "5"};
        if (std::string(e.method) == "POST") base.insert(base.end(), {"-H", "Content-Type: application/json", "-d", "{}"});
        auto anonymous = curl(c.url() + e.path, base);
        CHECK(anonymous.status == 401);
        CHECK(error_code(anonymous) == "operator_certificate_required");
        auto with_node = base;
        for (const auto& a : node.curl_identity()) with_node.push_back(a);
        auto refused = curl(c.url() + e.path, with_node);
        CHECK(refused.status == 403);
        CHECK(error_code(refused) == "operator_required");
        CHECK_THAT(error_message(refused), Catch::Contains("graft-coordinator operator add"));
        if (e.path.find("watch") != std::string::npos) continue;  // a stream: checked with the CLI below
        auto with_operator = base;
        for (const auto& a : c.operator_identity()) with_operator.push_back(a);
        auto taken = curl(c.url() + e.path, with_operator);
        CHECK((taken.status == 200 || taken.status == 202));
    }
    // What anyone may load: health and the dashboard's files, which hold no fleet data.
    CHECK(curl(c.url() + "/healthz", {"--cacert", c.ca_path()}).status == 200);
    auto page = curl(c.url() + "/", {"--cacert", c.ca_path()});
    CHECK(page.status == 200);
    CHECK(page.body.find(node.name) == std::string::npos);
}

TEST_CASE("operator add writes 0600 credentials and never overwrites them, and the CLI reads the fleet with them") {
    coordinator_process c;
    c.start();
    auto node = enroll(c);
    const std::string file = c.dir() / "alice.json";
    auto added = test::run({GRAFT_COORDINATOR_BIN, "operator", "add", "alice", "--config", c.config_path(), "--out", file});
    REQUIRE(added.exit_code == 0);
    CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    const auto before = test::read(file);
    auto again = test::run({GRAFT_COORDINATOR_BIN, "operator", "add", "alice", "--config", c.config_path(), "--out", file});
    CHECK(again.exit_code == 1);
    CHECK_THAT(again.output, Catch::Contains(file + " already exists"));
    CHECK(test::read(file) == before);
    auto bad_name = test::run({GRAFT_COORDINATOR_BIN, "operator", "add", "Alice Smith", "--config", c.config_path()});
    CHECK(bad_name.exit_code == 2);
    CHECK_THAT(bad_name.output, Catch::Contains("is not an operator name"));

    REQUIRE(post(c, "/v1/nodes/" + node.name + "/report", report("failed", long_reason), node.curl_identity()).status == 200);
    auto table = test::run({GRAFT_COORDINATOR_BIN, "get", "nodes", "--credentials", file});
    REQUIRE(table.exit_code == 0);
    INFO(table.output);
    CHECK(widest_line(table.output) <= 120);
    CHECK_THAT(table.output, Catch::Contains("NAME") && Catch::Contains("LAST-SEEN") && Catch::Contains(node.name));
    CHECK_THAT(table.output, Catch::Contains("1 reason is cut to fit"));
    // -o json and -o yaml keep the reason whole; the YAML is read back by a YAML parser.
    auto json = proto::parse_json(test::run({GRAFT_COORDINATOR_BIN, "get", "nodes", "-o", "json", "--credentials", file}).output);
    CHECK(json["nodes"][0]["reason"] == long_reason);
    CHECK_FALSE(json["nodes"][0]["last_seen"].get<std::string>().empty());
    auto yaml = YAML::Load(test::run({GRAFT_COORDINATOR_BIN, "get", "nodes", "-o", "yaml", "--credentials", file}).output);
    CHECK(yaml["nodes"][0]["reason"].as<std::string>() == long_reason);
    CHECK(yaml["nodes"][0]["phase"].as<std::string>() == "failed");
    // describe wraps the reason whole, within 120 columns, with the phase history.
    auto describe = test::run({GRAFT_COORDINATOR_BIN, "describe", "node", node.name, "--credentials", file});
    REQUIRE(describe.exit_code == 0);
    CHECK(widest_line(describe.output) <= 120);
    CHECK_THAT(describe.output, Catch::Contains("cni plugin not initialized") && Catch::Contains("History:") &&
                                    Catch::Contains("enrolled") && Catch::Contains("Last seen:"));
    // A wrong flag value is named, and --help is the command's own.
    auto wrong = test::run({GRAFT_COORDINATOR_BIN, "get", "nodes", "-o", "xml", "--credentials", file});
    CHECK(wrong.exit_code == 2);
    CHECK_THAT(wrong.output, Catch::Contains("--output must be one of json, wide, yaml, got 'xml'"));
    auto help = test::run({GRAFT_COORDINATOR_BIN, "logs", "--help"});
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.output, Catch::StartsWith("usage: graft-coordinator logs NODE"));
    auto since = test::run({GRAFT_COORDINATOR_BIN, "logs", node.name, "--since", "1h30m", "--credentials", file});
    CHECK(since.exit_code == 0);
    CHECK(test::run({GRAFT_COORDINATOR_BIN, "logs", node.name, "--since", "90", "--credentials", file}).exit_code == 2);
    auto version = test::run({GRAFT_COORDINATOR_BIN, "version", "--credentials", file});
    CHECK_THAT(version.output, Catch::Contains("client: graft-coordinator") && Catch::Contains("coordinator at " + c.url()));
}

TEST_CASE("get nodes --watch prints each change as it happens") {
    coordinator_process c;
    c.start();
    auto node = enroll(c);
    test::child watcher({GRAFT_COORDINATOR_BIN, "get", "nodes", "--watch", "--credentials", c.operator_credentials()},
                        c.dir() / "watch.out");
    REQUIRE(test::eventually([&] { return test::read(c.dir() / "watch.out").find(node.name) != std::string::npos; }));
    REQUIRE(post(c, "/v1/nodes/" + node.name + "/report", report("failed", "kubeadm exited with status 1"),
                 node.curl_identity()).status == 200);
    CHECK(test::eventually([&] { return test::read(c.dir() / "watch.out").find("kubeadm exited with status 1") != std::string::npos; }));
}

TEST_CASE("an unreachable coordinator is named with what to check, and no library's internals") {
    coordinator_process c;
    c.start();
    const auto file = c.operator_credentials();
    c.stop();
    auto r = test::run({GRAFT_COORDINATOR_BIN, "get", "nodes", "--credentials", file});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("cannot reach the coordinator at " + c.url() + " (from " + file + ")") &&
                             Catch::Contains("check that `graft-coordinator serve` runs there"));
    CHECK(r.output.find("asio") == std::string::npos);
    CHECK(r.output.find("boost") == std::string::npos);
    // A credentials file that is not one is named, with the field.
    test::write(c.dir() / "broken.json", R"({"coordinator": "https://127.0.0.1:1"})");
    auto broken = test::run({GRAFT_COORDINATOR_BIN, "get", "nodes", "--credentials", c.dir() / "broken.json"});
    CHECK(broken.exit_code == 1);
    CHECK_THAT(broken.output, Catch::Contains("broken.json: field 'ca': is required"));
}

TEST_CASE("/metrics is the Prometheus text format, read by promtool, and counts what happened") {
    const auto promtool = test::unpacked_package("prometheus_amd64") / "usr/bin/promtool";
    coordinator_process c;
    c.start();
    auto first = enroll(c);
    enroll(c);
    REQUIRE(post(c, "/v1/nodes/" + first.name + "/report", joining, first.curl_identity()).status == 200);
    REQUIRE(post(c, "/v1/enroll", enroll_body("abcdef.0123456789abcdef", *proto::generate_p256_key())).status == 401);
    auto r = get(c, "/metrics");
    REQUIRE(r.status == 200);
    test::write(c.dir() / "metrics.txt", r.body);
    auto checked = test::run({"/bin/sh", "-c", "\"$0\" check metrics < \"$1\"", promtool.string(), c.dir() / "metrics.txt"});
    INFO(checked.output << r.body);
    CHECK(checked.exit_code == 0);
    CHECK_THAT(r.body, Catch::Contains("graft_nodes{phase=\"joining\"} 1\n") &&
                           Catch::Contains("graft_nodes{phase=\"enrolled\"} 1\n") &&
                           Catch::Contains("graft_enrollments_total{outcome=\"accepted\"} 2\n") &&
                           Catch::Contains("graft_enrollments_total{outcome=\"invalid_enrollment_token\"} 1\n") &&
                           Catch::Contains("graft_http_request_duration_seconds_bucket{endpoint=\"report\",le=\"+Inf\"} 1\n") &&
                           Catch::Contains("graft_build_info{version="));
    // promtool refuses what is not the format: the check can fail.
    test::write(c.dir() / "bad.txt", r.body + "graft_nodes{phase=\"ready\" 3\n");
    CHECK(test::run({"/bin/sh", "-c", "\"$0\" check metrics < \"$1\"", promtool.string(), c.dir() / "bad.txt"}).exit_code != 0);
}

TEST_CASE("after a failed join an operator reads the node's kubelet journal from the coordinator, never touching the node") {
    test::private_journald journal;
    if (!journal.start()) return;
    // kubelet's lines as journald stores a service's: _SYSTEMD_UNIT=kubelet.service from its cgroup.
    if (!journal.log_as_unit("kubelet.service", {"Starting kubelet", "E1203 06:40:01 run.go:74] \"command failed\" "
                                                 "err=\"failed to load kubelet config file /var/lib/kubelet/config.yaml\""})) {
        WARN("no writable cgroup hierarchy to run a process as kubelet.service in: not checked here");
        return;
    }
    coordinator_process c;
    c.start();
    auto env = c.env();
    env["FAKE_KUBEADM_FAIL"] = "1";
    auto agent = test::run(sandboxed_agent(c, journal, {"--max-join-attempts", "1"}), env);
    REQUIRE(agent.exit_code == 1);

    auto logs = as_operator(c, {"logs", "node-1", "-u", "kubelet"});
    INFO(logs.output);
    REQUIRE(logs.exit_code == 0);
    CHECK_THAT(logs.output, Catch::Contains("-- kubelet.service on node-1, captured") &&
                                Catch::Contains("(join attempt 1 failed)") &&
                                Catch::Contains("failed to load kubelet config file /var/lib/kubelet/config.yaml"));
    auto tail = as_operator(c, {"logs", "node-1", "-u", "kubelet", "-n", "1"});
    CHECK(tail.output.find("Starting kubelet") == std::string::npos);
    auto describe = as_operator(c, {"describe", "node", "node-1"});
    CHECK_THAT(describe.output, Catch::Contains("Journal excerpts:") && Catch::Contains("kubelet.service") &&
                                    Catch::Contains("join attempt 1 failed"));
}

TEST_CASE("after its work the agent stays with a heartbeat and journal excerpts when an operator asks, until SIGTERM") {
    test::private_journald journal;
    if (!journal.start()) return;
    if (!journal.log_as_unit("kubelet.service", {"I1203 kubelet started", "I1203 Successfully registered node node-1"})) {
        WARN("no writable cgroup hierarchy to run a process as kubelet.service in: not checked here");
        return;
    }
    coordinator_process c;
    c.start();
    // This coordinator has no kubeconfig: once joined, the agent's work is done.
    test::child agent(sandboxed_agent(c, journal, {"--heartbeat-interval-ms", "300"}), c.dir() / "agent.log", c.env());
    REQUIRE(test::eventually([&] { return test::read(c.dir() / "agent.log").find("watching over node-1") != std::string::npos; }));
    CHECK(agent.running());

    auto fresh = as_operator(c, {"logs", "node-1", "-u", "kubelet", "--fresh"});
    INFO(fresh.output << test::read(c.dir() / "agent.log"));
    REQUIRE(fresh.exit_code == 0);
    CHECK_THAT(fresh.output, Catch::Contains("(asked for by an operator)") &&
                                 Catch::Contains("Successfully registered node node-1"));
    auto status = proto::parse_json(get(c, "/v1/nodes/node-1").body);
    auto seen = proto::from_rfc3339(status.at("last_seen").get<std::string>());
    REQUIRE(seen);
    CHECK(proto::clock::now() - *seen < std::chrono::seconds(10));

    agent.signal(SIGTERM);
    CHECK(agent.wait(std::chrono::seconds(5)) == 128 + SIGTERM);
}

TEST_CASE("the dashboard shows the fleet in every phase and updates live in Chromium") {
    coordinator_process c;
    c.start();
    // A node in each phase the coordinator reaches without a cluster.
    std::vector<enrolled_node> fleet;
    for (int i = 0; i < 7; ++i) fleet.push_back(enroll(c));
    const std::vector<std::pair<std::string, std::string>> phases{
        {"configuring", ""},           {"rebooting", "the kernel command line in /boot/firmware/cmdline.txt changed"},
        {"configured", "node IP 192.0.2.7"}, {"joining", ""},
        {"joined", "kubelet not healthy yet: connection refused"}, {"failed", long_reason}};
    for (std::size_t i = 0; i < phases.size(); ++i)
        REQUIRE(post(c, "/v1/nodes/" + fleet[i + 1].name + "/report", report(phases[i].first, phases[i].second),
                     fleet[i + 1].curl_identity()).status == 200);
    const std::string approval = c.boot_config({"--approval", "required"});
    const auto waiting = enroll(c, "raspberrypi", test::random_machine_id(), approval);
    const auto refused = enroll(c, "raspberrypi", test::random_machine_id(), approval);
    REQUIRE(test::run({GRAFT_COORDINATOR_BIN, "nodes", "deny", refused.name, "--config", c.config_path()}).exit_code == 0);

    auto link = as_operator(c, {"dashboard"});
    REQUIRE(link.exit_code == 0);
    const auto at = link.output.find(c.url() + "/#login=");
    REQUIRE(at != std::string::npos);
    const std::string url = link.output.substr(at, link.output.find('\n', at) - at);
    const std::string server_pem = test::read(c.state_dir() + "/server.crt");
    const auto artefacts = std::filesystem::path(GRAFT_TEST_ARTEFACTS_DIR);

    test::headless_browser browser(url, test::spki_sha256_base64(server_pem), c.dir() / "chromium");
    INFO(browser.log());
    REQUIRE(browser.wait_for("document.body.dataset.nodes === '9'"));
    REQUIRE(browser.wait_for("document.getElementById('live').textContent === 'live'"));
    // The token left the address bar; the session is a cookie the page's script cannot read.
    CHECK(browser.evaluate("location.hash") == "");
    CHECK(browser.evaluate("document.cookie") == "");
    // Counts per phase, a row per node, the reason whole.
    for (const auto& phase : {"enrolled", "configuring", "rebooting", "configured", "joining", "joined", "failed",
                              "pending_approval", "denied"})
        CHECK(browser.evaluate(std::string("document.querySelector('.count.") + phase + " b').textContent") == "1");
    CHECK(browser.evaluate("document.querySelectorAll('#nodes tbody tr').length") == 9);
    CHECK(browser.evaluate("[...document.querySelectorAll('#nodes td.reason')].some(td => td.textContent === " +
                           proto::json(long_reason).dump() + ")") == true);
    browser.screenshot(artefacts / "dashboard-fleet.png");

    // A change arrives without a reload: the marker set on this page survives it.
    browser.evaluate("window.graftMarker = 42");
    REQUIRE(post(c, "/v1/nodes/" + fleet[4].name + "/report", report("failed", "kubeadm join exited with status 1"),
                 fleet[4].curl_identity()).status == 200);
    CHECK(browser.wait_for("document.querySelector('.count.failed b').textContent === '2'"));
    CHECK(browser.wait_for("[...document.querySelectorAll('#nodes tbody tr')].some(tr => tr.dataset.name === '" +
                           fleet[4].name + "' && tr.textContent.includes('kubeadm join exited with status 1'))"));
    CHECK(browser.evaluate("window.graftMarker") == 42);
    CHECK(browser.evaluate("performance.getEntriesByType('navigation').length") == 1);

    // One node: its timeline from enrolled to failed, with the whole reason.
    browser.evaluate("document.querySelector(\"#nodes tbody tr[data-name='" + fleet[6].name + "']\").click()");
    REQUIRE(browser.wait_for("document.getElementById('node-name').textContent === '" + fleet[6].name + "'"));
    CHECK(browser.wait_for("document.querySelectorAll('#timeline li').length >= 2"));
    CHECK(browser.evaluate("document.getElementById('node-reason').textContent") == long_reason);
    browser.screenshot(artefacts / "dashboard-node.png");

    // Without the session the data is not served, and the link does not work twice.
    CHECK(browser.evaluate("fetch('/v1/nodes', {credentials: 'omit'}).then(r => r.status)") == 401);
    const std::string token = url.substr(url.find("#login=") + 7);
    auto again = post(c, "/v1/dashboard/login", proto::json{{"token", token}}.dump());
    CHECK(again.status == 401);
    CHECK(error_code(again) == "sign_in_link_invalid");
}
