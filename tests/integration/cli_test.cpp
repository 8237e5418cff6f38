// The two programs' command lines as a user meets them: help, mistakes, and nothing half-done after one.
#include "proto/json_fields.hpp"
#include "support/etcd_cluster.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;

TEST_CASE("both programs explain themselves with --help") {
    auto c = test::run({GRAFT_COORDINATOR_BIN, "--help"});
    CHECK(c.exit_code == 0);
    CHECK_THAT(c.output, Catch::Contains("init --dir DIR --advertise HOST:PORT") && Catch::Contains("boot-config") &&
                             Catch::Contains("serve --config FILE") && Catch::Contains("status --config FILE"));
    auto a = test::run({GRAFT_AGENT_BIN, "--help"});
    CHECK(a.exit_code == 0);
    CHECK_THAT(a.output, Catch::Contains("run [--config FILE]") && Catch::Contains("--root DIR"));
    CHECK(test::run({GRAFT_AGENT_BIN, "run", "--help"}).exit_code == 0);
}

TEST_CASE("an unknown command or option is named, with exit code 2") {
    auto r = test::run({GRAFT_COORDINATOR_BIN, "serv"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("unknown command 'serv'") && Catch::Contains("--help"));
    r = test::run({GRAFT_AGENT_BIN, "run", "--config", "x", "--rot", "/"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("unknown option --rot"));
}

TEST_CASE("init with bad registry flags names the flag and creates nothing") {
    test::temp_dir dir;
    const std::vector<std::string> base{GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1:18443",
                                        "--join-backend", "kubeadm-cli"};
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"--registry", "postgres"}, "--registry must be sqlite or etcd"},
        {{"--etcd-endpoints", "https://127.0.0.1:2379"}, "--etcd-endpoints is for --registry etcd"},
        {{"--certificate-key-file", dir / "key"}, "--certificate-key-file is for --registry etcd"},
        {{"--registry", "etcd", "--etcd-ca", "a", "--etcd-cert", "b", "--etcd-key", "c"}, "--etcd-endpoints"},
        {{"--registry", "etcd", "--etcd-endpoints", "http://127.0.0.1:2379", "--etcd-ca", "a", "--etcd-cert", "b", "--etcd-key", "c"},
         "'http://127.0.0.1:2379' is not https://HOST:PORT"},
        {{"--registry", "etcd", "--etcd-endpoints", "https://127.0.0.1:2379", "--etcd-ca", "a", "--etcd-cert", "b", "--etcd-key", "c",
          "--etcd-prefix", "graft"},
         "--etcd-prefix must start and end with '/'"},
    };
    for (const auto& [flags, says] : cases) {
        auto argv = base;
        argv.insert(argv.end(), flags.begin(), flags.end());
        auto r = test::run(argv);
        INFO(r.output);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.output, Catch::Contains(says));
        CHECK_FALSE(std::filesystem::exists(dir / "c"));
    }
    // A file that holds no certificate, and etcd that cannot be reached: each said, and nothing made.
    const test::etcd_cluster etcd(1);
    test::write(dir / "none.pem", "");
    const std::string nowhere = "https://127.0.0.1:" + std::to_string(test::free_port());
    auto init = [&](const std::string& endpoint, const std::string& ca) {
        return test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1:18443", "--join-backend",
                          "kubeadm-cli", "--registry", "etcd", "--etcd-endpoints", endpoint, "--etcd-ca", ca, "--etcd-cert",
                          etcd.cert_file(), "--etcd-key", etcd.key_file()});
    };
    auto r = init(etcd.endpoints_flag(), dir / "none.pem");
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(dir / "none.pem") && Catch::Contains("is not the CA certificate"));
    r = init(nowhere, etcd.ca_file());
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("no etcd member could answer") && Catch::Contains(nowhere + ": Connection refused"));
    CHECK_FALSE(std::filesystem::exists(dir / "c/config.json"));
}

TEST_CASE("init with a bad --advertise names it and creates nothing") {
    test::temp_dir dir;
    auto r = test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("--advertise") && Catch::Contains("HOST:PORT"));
    CHECK_FALSE(std::filesystem::exists(dir / "c"));
}

TEST_CASE("init for the kubeadm backend without a usable kubeconfig names the file and the way out, and creates nothing") {
    test::temp_dir dir;
    auto r = test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1:18443",
                        "--kubeconfig", dir / "missing.conf"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(dir / "missing.conf") && Catch::Contains("--join-backend"));
    CHECK_FALSE(std::filesystem::exists(dir / "c"));
    test::write(dir / "no-user.conf", "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: "
                                      "https://10.0.0.1:6443\n    certificate-authority-data: eA==\ncontexts:\n- name: c\n"
                                      "  context:\n    cluster: k\n    user: admin\ncurrent-context: c\nusers: []\n");
    r = test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1:18443", "--kubeconfig",
                   dir / "no-user.conf"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("user 'admin'") && Catch::Contains("not in 'users'"));
    CHECK_FALSE(std::filesystem::exists(dir / "c"));
}

TEST_CASE("init refuses a directory that already holds a coordinator, and changes none of it") {
    test::temp_dir dir;
    auto first = test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1:18443", "--join-backend", "kubeadm-cli"});
    REQUIRE(first.exit_code == 0);
    const auto ca = test::read(dir / "c/ca.crt"), key = test::read(dir / "c/ca.key"), config = test::read(dir / "c/config.json");
    auto again = test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1:18443", "--join-backend", "kubeadm-cli"});
    CHECK(again.exit_code == 1);
    CHECK_THAT(again.output, Catch::Contains("already exists") && Catch::Contains("boot-config"));
    CHECK(test::read(dir / "c/ca.crt") == ca);
    CHECK(test::read(dir / "c/ca.key") == key);
    CHECK(test::read(dir / "c/config.json") == config);
    // Secrets are the coordinator's alone.
    for (const char* f : {"ca.key", "server.key", "config.json", "registry.db"}) CHECK(test::file_mode(dir / ("c/" + std::string(f))) == 0600);
    CHECK(test::file_mode(dir / "c") == 0700);
}

TEST_CASE("the static join backend reads its token from a file, never from the command line") {
    test::temp_dir dir;
    test::write(dir / "token", "abcdef.0123456789abcdef\n");
    auto ca = test::run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                         "-keyout", dir / "k8s-ca.key", "-out", dir / "k8s-ca.crt", "-subj", "/CN=kubernetes", "-days", "1"});
    REQUIRE(ca.exit_code == 0);
    auto r = test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1:18443",
                        "--join-backend", "static", "--kube-endpoint", "10.0.0.1:6443", "--kube-token-file",
                        dir / "token", "--kube-ca", dir / "k8s-ca.crt"});
    CHECK(r.exit_code == 0);
    CHECK(test::read(dir / "c/config.json").find("\"backend\": \"static\"") != std::string::npos);

    test::write(dir / "bad-token", "not-a-token\n");
    r = test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "d", "--advertise", "127.0.0.1:18443", "--join-backend",
                   "static", "--kube-endpoint", "10.0.0.1:6443", "--kube-token-file", dir / "bad-token", "--kube-ca",
                   dir / "k8s-ca.crt"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(dir / "bad-token"));
    CHECK_FALSE(std::filesystem::exists(dir / "d/config.json"));
}

TEST_CASE("serve with a broken config names the file and the field") {
    test::temp_dir dir;
    REQUIRE(test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1:18443", "--join-backend", "kubeadm-cli"}).exit_code == 0);
    auto config = test::read(dir / "c/config.json");
    config.replace(config.find("\"listen\""), 8, "\"listn\"");
    test::write(dir / "c/config.json", config);
    auto r = test::run({GRAFT_COORDINATOR_BIN, "serve", "--config", dir / "c/config.json"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(dir / "c/config.json") && Catch::Contains("'listen': is required"));
}

TEST_CASE("an agent with a broken graft.json names the field and writes no state") {
    test::temp_dir dir;
    test::make_node_root(dir / "node");
    test::write(dir / "graft.json", R"({"coordinator": "https://127.0.0.1:1", "ca_pin": "sha256:nope", "enrollment_token": "x"})");
    auto r = test::run({GRAFT_AGENT_BIN, "run", "--config", dir / "graft.json", "--root", dir / "node"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(dir / "graft.json") && Catch::Contains("field 'ca_pin'"));
    CHECK_FALSE(std::filesystem::exists(dir / "node/var/lib/graft"));

    test::write(dir / "graft.json", R"({"coordinator": "https://127.0.0.1:1", "coordinators": ["https://127.0.0.1:1", "10.0.0.2:8443"],
                                        "ca_pin": "sha256:)" + std::string(64, 'a') + R"(", "enrollment_token": "x"})");
    r = test::run({GRAFT_AGENT_BIN, "run", "--config", dir / "graft.json", "--root", dir / "node"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("field 'coordinators'") && Catch::Contains("10.0.0.2:8443"));
    CHECK_FALSE(std::filesystem::exists(dir / "node/var/lib/graft"));

    r = test::run({GRAFT_AGENT_BIN, "run", "--config", dir / "missing.json", "--root", dir / "node"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(dir / "missing.json"));
}

namespace {
// A coordinator made by `init` in DIR/c with the kubeadm-cli backend; its config.json.
std::string init_coordinator(const test::temp_dir& dir) {
    REQUIRE(test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1:18443",
                       "--join-backend", "kubeadm-cli"}).exit_code == 0);
    return dir / "c/config.json";
}
}  // namespace

TEST_CASE("init makes no enrollment token, and says how to make one") {
    test::temp_dir dir;
    auto r = test::run({GRAFT_COORDINATOR_BIN, "init", "--dir", dir / "c", "--advertise", "127.0.0.1:18443",
                        "--join-backend", "kubeadm-cli"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("enrollment_token") == std::string::npos);
    CHECK_THAT(r.output, Catch::Contains("boot-config --config " + (dir / "c/config.json")));
    auto list = test::run({GRAFT_COORDINATOR_BIN, "tokens", "list", "--config", dir / "c/config.json"});
    CHECK(list.exit_code == 0);
    CHECK_THAT(list.output, Catch::Contains("no enrollment tokens"));
}

TEST_CASE("tokens are listed with their policy and never their secret, and revoke takes one out at once") {
    test::temp_dir dir;
    const std::string config = init_coordinator(dir);
    auto made = test::run({GRAFT_COORDINATOR_BIN, "boot-config", "--config", config, "--token-uses", "3", "--approval",
                           "required", "--allow", "serial:10000000a1b2c3d4,mac:DC:A6:32:01:02:03"});
    REQUIRE(made.exit_code == 0);
    const std::string token = made.output.substr(made.output.find("\"enrollment_token\": \"") + 21, 41);
    const std::string id = token.substr(0, 8), secret = token.substr(9);

    auto list = test::run({GRAFT_COORDINATOR_BIN, "tokens", "list", "--config", config});
    CHECK(list.exit_code == 0);
    CHECK_THAT(list.output, Catch::Contains(id) && Catch::Contains("valid") && Catch::Contains("required") &&
                                Catch::Contains("serial:10000000a1b2c3d4,mac:dc:a6:32:01:02:03"));
    CHECK(list.output.find(secret) == std::string::npos);
    auto json = test::run({GRAFT_COORDINATOR_BIN, "tokens", "list", "--config", config, "--json"});
    CHECK(json.output.find(secret) == std::string::npos);
    const auto tokens = proto::parse_json(json.output.substr(json.output.find('[')));
    REQUIRE(tokens.size() == 1);
    CHECK(tokens[0].at("uses_left") == 3);
    CHECK(tokens[0].at("revoked_at").is_null());

    auto revoke = test::run({GRAFT_COORDINATOR_BIN, "tokens", "revoke", id, "--config", config});
    CHECK(revoke.exit_code == 0);
    CHECK_THAT(test::run({GRAFT_COORDINATOR_BIN, "tokens", "list", "--config", config}).output, Catch::Contains("revoked"));
    auto unknown = test::run({GRAFT_COORDINATOR_BIN, "tokens", "revoke", "zzzzzzzz", "--config", config});
    CHECK(unknown.exit_code == 1);
    CHECK_THAT(unknown.output, Catch::Contains("no enrollment token with id 'zzzzzzzz'"));
}

TEST_CASE("a bad boot-config policy or operator command names the flag and changes nothing") {
    test::temp_dir dir;
    const std::string config = init_coordinator(dir);
    auto r = test::run({GRAFT_COORDINATOR_BIN, "boot-config", "--config", config, "--allow", "serial:1,board:7"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("--allow") && Catch::Contains("'board:7'"));
    r = test::run({GRAFT_COORDINATOR_BIN, "boot-config", "--config", config, "--approval", "maybe"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("--approval must be auto or required"));
    CHECK(r.output.find("enrollment_token") == std::string::npos);
    CHECK_THAT(test::run({GRAFT_COORDINATOR_BIN, "tokens", "list", "--config", config}).output,
               Catch::Contains("no enrollment tokens"));

    r = test::run({GRAFT_COORDINATOR_BIN, "nodes", "approve", "--config", config});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("nodes approve needs NAME"));
    r = test::run({GRAFT_COORDINATOR_BIN, "nodes", "promote", "node-1", "--config", config});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("approve|delete|deny|replace"));
    r = test::run({GRAFT_COORDINATOR_BIN, "nodes", "delete", "node-1", "--config", config});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("no node named node-1"));
}
