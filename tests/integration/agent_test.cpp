// Real graft-agent processes, each on a sandbox root, against a real graft-coordinator on 127.0.0.1. The join
// program on both sides is tests/fixtures/fake-kubeadm, which stands in for kubeadm (see its header).
#include "proto/messages.hpp"
#include "proto/pki.hpp"
#include "support/coordinator_api.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <set>
#include <thread>

using namespace graft;
using test::coordinator_process;

namespace {

struct node_sandbox {
    std::string root;
    std::string config;  // graft.json on the boot partition
    std::string log;
};

node_sandbox make_node(const coordinator_process& c, const std::string& name, const std::string& boot_json) {
    node_sandbox n{c.dir() / name, c.dir() / (name + "/boot/firmware/graft.json"), c.dir() / (name + ".log")};
    test::make_node_root(n.root);
    test::write(n.config, boot_json);
    return n;
}

std::vector<std::string> agent_argv(const node_sandbox& n, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{GRAFT_AGENT_BIN, "run", "--config", n.config, "--root", n.root,
                                  "--join-command", std::string(GRAFT_FIXTURES_DIR) + "/fake-kubeadm",
                                  "--retry-initial-ms", "100", "--retry-max-ms", "1000", "--exit-when-ready"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

proto::json agent_state(const node_sandbox& n) { return proto::parse_json(test::read(n.root + "/var/lib/graft/state.json")); }

std::vector<proto::node_status> nodes(const coordinator_process& c) {
    auto r = test::api::get(c, "/v1/nodes");
    REQUIRE(r.status == 200);
    std::vector<proto::node_status> out;
    const auto body = proto::parse_json(r.body);  // a named value: a range-for over a temporary's member would dangle
    for (const auto& n : body.at("nodes")) out.push_back(proto::node_status::from_json(n));
    return out;
}

// A freshly flashed Raspberry Pi OS node (the fixture tree, its own machine-id), with graft.json on its boot partition.
node_sandbox make_pi_node(const coordinator_process& c) {
    node_sandbox n{c.dir() / "pi", c.dir() / "pi/boot/firmware/graft.json", c.dir() / "pi.log"};
    test::copy_host_fixture("rpi-os-bookworm", n.root);
    test::write(n.root + "/etc/machine-id", test::random_machine_id() + "\n");
    test::write(n.config, c.boot_json());
    return n;
}

}  // namespace

TEST_CASE("three agents enroll and receive distinct names and join specs") {
    coordinator_process c;
    c.start();
    std::vector<node_sandbox> sandboxes;
    std::vector<std::unique_ptr<test::child>> agents;
    for (int i = 1; i <= 3; ++i) {
        sandboxes.push_back(make_node(c, "sandbox" + std::to_string(i), c.boot_json()));
        agents.push_back(std::make_unique<test::child>(agent_argv(sandboxes.back()), sandboxes.back().log, c.env()));
    }
    for (std::size_t i = 0; i < agents.size(); ++i) {
        INFO(test::read(sandboxes[i].log));
        CHECK(agents[i]->wait(std::chrono::seconds(60)) == 0);
    }

    std::set<std::string> names, tokens;
    const std::string joins = c.dir() / "cluster/joins";
    for (const auto& n : sandboxes) {
        auto state = agent_state(n);
        CHECK(state.at("phase") == "joined");
        const std::string name = state.at("node_name");
        names.insert(name);
        // What kubeadm was given: its own JoinConfiguration in a 0600 file, the token in the file and not in argv.
        const std::string yaml = test::read(joins + "/" + name + ".yaml");
        CHECK(yaml.find("  name: \"" + name + "\"") != std::string::npos);
        auto token_at = yaml.find("token: \"");
        REQUIRE(token_at != std::string::npos);
        const std::string token = yaml.substr(token_at + 8, 23);
        CHECK(proto::is_bootstrap_token(token));
        tokens.insert(token);
        CHECK(test::read(joins + "/" + name + ".mode") == "600\n");
        const std::string argv = test::read(joins + "/" + name + ".argv");
        CHECK(argv.find(token) == std::string::npos);
        CHECK(argv.find("join\n--config\n") != std::string::npos);
        // The file is gone once the join is over, and no log line carries the token.
        CHECK_FALSE(std::filesystem::exists(n.root + "/var/lib/graft/join-configuration.yaml"));
        CHECK(test::read(n.log).find(token) == std::string::npos);
        CHECK(c.log().find(token) == std::string::npos);
        CHECK(test::file_mode(n.root + "/var/lib/graft/node.key") == 0600);
    }
    CHECK(names == std::set<std::string>{"node-1", "node-2", "node-3"});
    CHECK(tokens.size() == 3);

    auto fleet = nodes(c);
    REQUIRE(fleet.size() == 3);
    for (const auto& n : fleet) {
        CHECK(n.phase == "joined");
        CHECK(n.address == "127.0.0.1");
        CHECK_THAT(n.join_command, Catch::Contains("--token ") && Catch::Contains(".****************"));
    }
    auto table = test::run({GRAFT_COORDINATOR_BIN, "status", "--config", c.config_path()});
    CHECK(table.exit_code == 0);
    for (const auto& name : names) CHECK(table.output.find(name + "   joined") != std::string::npos);
}

TEST_CASE("an agent keeps retrying while the coordinator is unreachable, then enrolls") {
    coordinator_process c;  // initialised, not yet serving
    auto n = make_node(c, "sandbox", c.boot_json());
    test::child agent(agent_argv(n), n.log, c.env());
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK(agent.running());
    c.start();
    INFO(test::read(n.log));
    CHECK(agent.wait(std::chrono::seconds(30)) == 0);
    CHECK(test::read(n.log).find("enrollment failed, retrying") != std::string::npos);
    CHECK(agent_state(n).at("phase") == "joined");
}

TEST_CASE("a failed join is reported, and a restarted agent resumes instead of enrolling again") {
    coordinator_process c;
    c.start();
    auto n = make_node(c, "sandbox", c.boot_json());
    auto env = c.env();
    env["FAKE_KUBEADM_FAIL"] = "1";
    auto first = test::run(agent_argv(n, {"--max-join-attempts", "1"}), env);
    CHECK(first.exit_code == 1);
    auto state = agent_state(n);
    CHECK(state.at("phase") == "failed");
    CHECK_THAT(state.at("last_error").get<std::string>(), Catch::Contains("exited with status 1"));
    auto fleet = nodes(c);
    REQUIRE(fleet.size() == 1);
    CHECK(fleet[0].phase == "failed");
    CHECK_THAT(fleet[0].reason, Catch::Contains("connection refused"));
    const std::string enrolled_at = fleet[0].enrolled_at;

    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // so a second enrollment would show a new time
    auto second = test::run(agent_argv(n), c.env());
    INFO(second.output);
    CHECK(second.exit_code == 0);
    CHECK(second.output.find("resuming as node-1") != std::string::npos);
    fleet = nodes(c);
    REQUIRE(fleet.size() == 1);
    CHECK(fleet[0].phase == "joined");
    CHECK(fleet[0].enrolled_at == enrolled_at);

    // A third start has nothing left to do.
    auto third = test::run(agent_argv(n), c.env());
    CHECK(third.exit_code == 0);
    CHECK(third.output.find("has joined; its coordinator does not watch") != std::string::npos);
}

TEST_CASE("an agent whose pin does not match the coordinator's CA never enrolls") {
    coordinator_process c;
    c.start();
    auto boot = proto::parse_json(c.boot_json());
    boot["ca_pin"] = "sha256:" + std::string(64, '0');
    auto n = make_node(c, "sandbox", boot.dump());
    test::child agent(agent_argv(n), n.log, c.env());
    std::this_thread::sleep_for(std::chrono::seconds(2));
    CHECK(agent.running());  // it waits for a coordinator it can trust; it does not fall back to trusting this one
    agent.signal(SIGTERM);
    CHECK(agent.wait(std::chrono::seconds(10)) == 128 + SIGTERM);
    CHECK(test::read(n.log).find("does not chain to the CA pinned in graft.json") != std::string::npos);
    CHECK(nodes(c).empty());
    CHECK_FALSE(std::filesystem::exists(n.root + "/var/lib/graft/node.crt"));
}

TEST_CASE("an agent with a wrong enrollment token stops with the coordinator's reason") {
    coordinator_process c;
    c.start();
    auto boot = proto::parse_json(c.boot_json());
    boot["enrollment_token"] = "aaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    auto n = make_node(c, "sandbox", boot.dump());
    auto r = test::run(agent_argv(n), c.env());
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("refused enrollment") && Catch::Contains("boot-config"));
    CHECK(nodes(c).empty());
    CHECK(test::run({GRAFT_AGENT_BIN, "status", "--root", n.root}).exit_code == 3);
}

TEST_CASE("graft-agent status shows the node's own record") {
    coordinator_process c;
    c.start();
    auto n = make_node(c, "sandbox", c.boot_json());
    REQUIRE(test::run(agent_argv(n), c.env()).exit_code == 0);
    auto s = test::run({GRAFT_AGENT_BIN, "status", "--root", n.root});
    CHECK(s.exit_code == 0);
    CHECK_THAT(s.output, Catch::Contains("node:        node-1") && Catch::Contains("phase:       joined") &&
                             Catch::Contains("certificate: valid until"));
}

TEST_CASE("a Raspberry Pi node is prepared, asks for its one reboot, and after it resumes and joins") {
    coordinator_process c;
    c.start();
    auto n = make_pi_node(c);

    auto first = test::run(agent_argv(n), c.env());
    INFO(first.output);
    CHECK(first.exit_code == 0);
    CHECK(agent_state(n).at("phase") == "rebooting");
    CHECK(agent_state(n).at("reboot").at("boot_file") == "/boot/firmware/cmdline.txt");
    CHECK(test::read(n.root + "/etc/hostname") == "node-1\n");
    CHECK(test::read(n.root + "/boot/firmware/cmdline.txt").ends_with(" cgroup_enable=memory cgroup_memory=1\n"));
    CHECK(nodes(c).at(0).phase == "rebooting");

    // The reboot: a new boot, with the kernel the command line asked for.
    test::write(n.root + "/proc/sys/kernel/random/boot_id", "0a1b2c3d-4e5f-4607-8899-aabbccddeeff\n");
    test::write(n.root + "/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
    auto second = test::run(agent_argv(n), c.env());
    INFO(second.output);
    CHECK(second.exit_code == 0);
    auto state = agent_state(n);
    CHECK(state.at("phase") == "joined");
    CHECK_FALSE(state.contains("reboot"));
    std::vector<std::string> phases;
    for (const auto& e : state.at("history")) phases.push_back(e.at("phase"));
    CHECK(phases == std::vector<std::string>{"enrolled", "configuring", "rebooting", "configuring", "configured", "joining", "joined"});
    CHECK(nodes(c).at(0).phase == "joined");
    // kubelet registers with the address on the route to the coordinator, and the coordinator was told it.
    CHECK_THAT(test::read(n.root + "/etc/default/kubelet"), Catch::Contains("--node-ip=127.0.0.1"));
    CHECK(nodes(c).at(0).address == "127.0.0.1");
}

TEST_CASE("a reboot that did not bring the change fails the node with the reason, and the coordinator shows it") {
    coordinator_process c;
    c.start();
    auto n = make_pi_node(c);
    REQUIRE(test::run(agent_argv(n), c.env()).exit_code == 0);
    test::write(n.root + "/proc/sys/kernel/random/boot_id", "0a1b2c3d-4e5f-4607-8899-aabbccddeeff\n");  // rebooted, same kernel
    auto second = test::run(agent_argv(n), c.env());
    CHECK(second.exit_code == 1);
    CHECK_THAT(second.output, Catch::Contains("did not take effect after the reboot"));
    auto status = nodes(c).at(0);
    CHECK(status.phase == "failed");
    CHECK_THAT(status.reason, Catch::Contains("/boot/firmware/cmdline.txt"));
}

namespace {
// The board a sandbox root says it is: the serial number gather_facts reads from DMI.
void set_board_serial(const node_sandbox& n, const std::string& serial) {
    test::write(n.root + "/sys/class/dmi/id/product_serial", serial + "\n");
}
proto::process_result coordinator_command(const coordinator_process& c, std::vector<std::string> args) {
    args.insert(args.begin(), GRAFT_COORDINATOR_BIN);
    args.push_back("--config");
    args.push_back(c.config_path());
    return test::run(args);
}
// Waits until the coordinator lists a node in `phase`.
bool wait_for_phase(const coordinator_process& c, const std::string& phase) {
    for (int i = 0; i < 200; ++i) {
        for (const auto& n : nodes(c))
            if (n.phase == phase) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}
}  // namespace

TEST_CASE("a card cloned onto another board leaves the identity to the original and enrolls as a new node") {
    coordinator_process c;
    c.start();
    auto original = make_node(c, "original", c.boot_json());
    set_board_serial(original, "10000000a1b2c3d4");
    REQUIRE(test::run(agent_argv(original), c.env()).exit_code == 0);
    const std::string original_id = test::read(original.root + "/etc/machine-id");

    // dd of the card, booted on another board.
    node_sandbox clone{c.dir() / "clone", c.dir() / "clone/boot/firmware/graft.json", c.dir() / "clone.log"};
    REQUIRE(test::run({"cp", "-a", original.root, clone.root}).exit_code == 0);
    set_board_serial(clone, "10000000ffff0000");
    auto r = test::run(agent_argv(clone), c.env());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("this card was cloned from node-1's") && Catch::Contains("new node"));
    const std::string clone_id = test::read(clone.root + "/etc/machine-id");
    CHECK(clone_id != original_id);
    CHECK(clone_id.size() == 33);
    CHECK(agent_state(clone).at("node_name") == "node-2");
    // The original's key stays with the original; the clone's copy of it is set aside, not used.
    CHECK(test::read(clone.root + "/var/lib/graft/cloned-from-node-1/node.key") ==
          test::read(original.root + "/var/lib/graft/node.key"));
    CHECK(test::read(clone.root + "/var/lib/graft/node.key") != test::read(original.root + "/var/lib/graft/node.key"));
    CHECK_THAT(c.log(), Catch::Contains("node node-2 runs on a card cloned from the machine with machine-id " +
                                        original_id.substr(0, 32)));
    // And the original goes on as itself.
    CHECK(test::run(agent_argv(original), c.env()).exit_code == 0);
    CHECK(nodes(c).size() == 2);
}

TEST_CASE("a re-flashed card waits as a conflict until the operator accepts it with nodes replace") {
    coordinator_process c;
    c.start();
    auto n = make_node(c, "sandbox", c.boot_json());
    REQUIRE(test::run(agent_argv(n), c.env()).exit_code == 0);
    // Re-flashed: graft's state (key and all) is gone; the machine-id and the board are the same.
    std::filesystem::remove_all(n.root + "/var/lib/graft");
    test::write(n.config, c.boot_json());
    test::child agent(agent_argv(n), n.log, c.env());
    REQUIRE(wait_for_phase(c, "joined"));
    for (int i = 0; i < 100 && nodes(c).front().conflict.empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK_THAT(nodes(c).front().conflict, Catch::Contains("nodes replace node-1"));
    CHECK(agent.running());
    CHECK_THAT(coordinator_command(c, {"status"}).output, Catch::Contains("CONFLICT"));

    auto replace = coordinator_command(c, {"nodes", "replace", "node-1"});
    CHECK(replace.exit_code == 0);
    INFO(test::read(n.log));
    CHECK(agent.wait(std::chrono::seconds(60)) == 0);
    CHECK(agent_state(n).at("node_name") == "node-1");
    CHECK_THAT(test::read(n.log), Catch::Contains("refused this machine's key"));
    CHECK(nodes(c).front().conflict.empty());
}

TEST_CASE("a node enrolling with an approval-required token waits until nodes approve, then joins") {
    coordinator_process c;
    c.start();
    auto n = make_node(c, "sandbox", c.boot_config({"--approval", "required"}));
    test::child agent(agent_argv(n), n.log, c.env());
    REQUIRE(wait_for_phase(c, "pending_approval"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK(agent.running());
    CHECK_FALSE(std::filesystem::exists(n.root + "/var/lib/graft/node.crt"));

    auto wrong = coordinator_command(c, {"nodes", "approve", "node-9"});
    CHECK(wrong.exit_code == 1);
    CHECK_THAT(wrong.output, Catch::Contains("no node named node-9"));
    auto approve = coordinator_command(c, {"nodes", "approve", "node-1"});
    CHECK(approve.exit_code == 0);
    INFO(test::read(n.log));
    CHECK(agent.wait(std::chrono::seconds(60)) == 0);
    CHECK(agent_state(n).at("phase") == "joined");
    CHECK_THAT(test::read(n.log), Catch::Contains("waits for an operator's approval"));
    // Approving twice says why not.
    auto again = coordinator_command(c, {"nodes", "approve", "node-1"});
    CHECK(again.exit_code == 1);
    CHECK_THAT(again.output, Catch::Contains("not pending_approval"));
}

TEST_CASE("graft-agent renew gets a new certificate for the same key, which takes over once the node uses it") {
    coordinator_process c;
    c.start();
    auto n = make_node(c, "sandbox", c.boot_json());
    REQUIRE(test::run(agent_argv(n), c.env()).exit_code == 0);
    const std::string dir = n.root + "/var/lib/graft/";
    const std::string old_cert = test::read(dir + "node.crt");
    test::write(c.dir() / "old.crt", old_cert);

    auto not_due = test::run({GRAFT_AGENT_BIN, "renew", "--root", n.root});
    CHECK(not_due.exit_code == 0);
    CHECK_THAT(not_due.output, Catch::Contains("not due for renewal yet"));
    CHECK(test::read(dir + "node.crt") == old_cert);

    auto renewed = test::run({GRAFT_AGENT_BIN, "renew", "--root", n.root, "--force"});
    INFO(renewed.output);
    CHECK(renewed.exit_code == 0);
    CHECK_THAT(renewed.output, Catch::Contains("renewed this node's certificate"));
    const std::string new_cert = test::read(dir + "node.crt");
    CHECK(new_cert != old_cert);
    auto key = proto::private_key_from_pem(test::read(dir + "node.key"));
    CHECK(proto::certificate_matches_key(*proto::certificate_from_pem(new_cert), *key));
    CHECK(test::file_mode(dir + "node.key") == 0600);

    // The agent's next start speaks with the new certificate; from then on the old one is refused.
    CHECK(test::run(agent_argv(n), c.env()).exit_code == 0);
    test::write(c.dir() / "body.json", R"({"phase": "joined"})");
    auto old = test::curl(c.url() + "/v1/nodes/node-1/report",
                          {"--cacert", c.ca_path(), "-X", "POST", "--data-binary", "@" + (c.dir() / "body.json"), "--cert",
                           c.dir() / "old.crt", "--key", dir + "node.key"});
    CHECK(old.status == 403);
    CHECK_THAT(old.body, Catch::Contains("certificate_superseded"));

    auto never = test::run({GRAFT_AGENT_BIN, "renew", "--root", c.dir() / "nowhere"});
    CHECK(never.exit_code == 1);
    CHECK_THAT(never.output, Catch::Contains("has not enrolled yet"));
}

TEST_CASE("SIGTERM during a join that hangs ends the agent at once, its phase saved") {
    coordinator_process c;
    c.start();
    auto n = make_node(c, "hanging", c.boot_json());
    auto env = c.env();
    env["FAKE_KUBEADM_HANG"] = "1";
    test::child agent(agent_argv(n), n.log, env);
    REQUIRE(test::eventually([&] { return test::read(n.log).find("Waiting for the kubelet to perform the TLS Bootstrap") !=
                                          std::string::npos; }));
    // The join runs off the agent's event loop, which answers the signal while kubeadm still waits.
    const auto asked = std::chrono::steady_clock::now();
    agent.signal(SIGTERM);
    CHECK(agent.wait(std::chrono::seconds(10)) == 128 + SIGTERM);
    CHECK(std::chrono::steady_clock::now() - asked < std::chrono::seconds(3));
    CHECK(agent_state(n)["phase"] == "joining");
    CHECK_THAT(test::read(n.log), Catch::Contains("stopping on signal 15"));
}
