#include "coordinator/config.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;
using namespace graft::coordinator;

namespace {

const char* valid = R"({
  "state_dir": "/var/lib/graft-coordinator",
  "listen": "0.0.0.0:8443",
  "advertise": "192.168.1.10:8443",
  "join": {"backend": "command", "command": ["kubeadm", "token", "create", "--print-join-command"]}
})";

std::string load_error(const std::string& text) {
    test::temp_dir dir;
    test::write(dir / "config.json", text);
    try {
        coordinator_config::load(dir / "config.json");
    } catch (const std::exception& e) {
        std::string m = e.what();
        return m.substr(m.find(": ") + 2);  // drop the temporary path
    }
    return "(accepted)";
}

std::string with(const std::string& from, const std::string& to) {
    std::string s = valid;
    s.replace(s.find(from), from.size(), to);
    return s;
}

}  // namespace

TEST_CASE("a valid config loads with defaults for what it leaves out, and round-trips") {
    test::temp_dir dir;
    test::write(dir / "config.json", valid);
    auto c = coordinator_config::load(dir / "config.json");
    CHECK(c.node_name_prefix == "node");
    CHECK(c.certificate_lifetime == std::chrono::hours(720));
    CHECK(c.join.command_timeout == std::chrono::seconds(30));
    CHECK(c.advertise_url() == "https://192.168.1.10:8443");
    test::write(dir / "again.json", c.to_json_text());
    CHECK(coordinator_config::load(dir / "again.json").to_json_text() == c.to_json_text());
}

TEST_CASE("config errors name the file and the field") {
    test::temp_dir dir;
    test::write(dir / "config.json", with("\"listen\"", "\"lisen\""));
    CHECK_THROWS_WITH(coordinator_config::load(dir / "config.json"),
                      Catch::StartsWith(dir / "config.json") && Catch::Contains("'listen': is required"));
    CHECK_THAT(load_error(with("\"backend\": \"command\"", "\"backend\": \"static\"")),
               Catch::Contains("'join.api_server_endpoint': is required"));
    CHECK_THAT(load_error(with("\"backend\": \"command\"", "\"backend\": \"kubeadmm\"")), Catch::Contains("join.backend"));
    CHECK_THAT(load_error(with("\"backend\": \"command\"", "\"backend\": \"kubeadm\"")),
               Catch::Contains("'kubernetes.kubeconfig'") && Catch::Contains("/etc/kubernetes/admin.conf"));
    CHECK_THAT(load_error(with(R"("backend": "command", "command": ["kubeadm", "token", "create", "--print-join-command"])",
                               R"("backend": "k0s")")),
               Catch::Contains("'join.command'") && Catch::Contains("--role=worker"));
    CHECK_THAT(load_error(with("0.0.0.0:8443", "0.0.0.0")), Catch::Contains("'listen'") && Catch::Contains("HOST:PORT"));
    CHECK_THAT(load_error(with("192.168.1.10:8443", "192.168.1.10:99999")), Catch::Contains("'advertise'"));
    CHECK_THAT(load_error(with("\"join\"", "\"certificate_lifetime_hours\": 0, \"join\"")),
               Catch::Contains("certificate_lifetime_hours"));
    CHECK_THAT(load_error(with("\"join\"", "\"extra\": 1, \"join\"")), Catch::Contains("'extra': is not a known field"));
    CHECK_THAT(load_error("{"), Catch::Contains("malformed JSON"));
}

TEST_CASE("the kubeadm backend reads its kubeconfig and token lifetime, and config.json round-trips them") {
    test::temp_dir dir;
    const std::string text = with(R"("backend": "command", "command": ["kubeadm", "token", "create", "--print-join-command"])",
                                  R"("backend": "kubeadm", "token_ttl_seconds": 600}, "kubernetes": {"kubeconfig": "/etc/kubernetes/admin.conf")");
    test::write(dir / "config.json", text);
    auto c = coordinator_config::load(dir / "config.json");
    CHECK(c.join.backend == "kubeadm");
    CHECK(c.join.token_ttl == std::chrono::seconds(600));
    CHECK(c.kubeconfig == "/etc/kubernetes/admin.conf");
    test::write(dir / "again.json", c.to_json_text());
    auto again = coordinator_config::load(dir / "again.json");
    CHECK(again.to_json_text() == c.to_json_text());
    CHECK_THAT(load_error(with(R"("backend": "command", "command": ["kubeadm", "token", "create", "--print-join-command"])",
                               R"("backend": "kubeadm", "token_ttl_seconds": 0}, "kubernetes": {"kubeconfig": "/x")")),
               Catch::Contains("join.token_ttl_seconds"));
}

TEST_CASE("a static join backend needs a real token and CA pin") {
    std::string base = with(R"("backend": "command", "command": ["kubeadm", "token", "create", "--print-join-command"])",
                            R"("backend": "static", "api_server_endpoint": "10.0.0.1:6443", "token": "TOKEN", "ca_cert_hashes": ["HASH"])");
    auto fill = [&](std::string token, std::string hash) {
        std::string s = base;
        s.replace(s.find("TOKEN"), 5, token);
        s.replace(s.find("HASH"), 4, hash);
        return s;
    };
    CHECK(load_error(fill("abcdef.0123456789abcdef", "sha256:" + std::string(64, 'a'))) == "(accepted)");
    CHECK_THAT(load_error(fill("abcdef", "sha256:" + std::string(64, 'a'))), Catch::Contains("join.token"));
    CHECK_THAT(load_error(fill("abcdef.0123456789abcdef", "sha1:abc")), Catch::Contains("join.ca_cert_hashes"));
}

TEST_CASE("host:port splitting handles IPv6 and names what is wrong") {
    CHECK(split_host_port("[::1]:8443", "x") == std::pair<std::string, std::string>{"::1", "8443"});
    CHECK(split_host_port("coordinator.lan:443", "x") == std::pair<std::string, std::string>{"coordinator.lan", "443"});
    CHECK_THROWS_WITH(split_host_port("coordinator.lan", "--advertise"), Catch::StartsWith("--advertise"));
    CHECK_THROWS_WITH(split_host_port(":443", "--listen"), Catch::StartsWith("--listen"));
}

TEST_CASE("an etcd registry in config.json round-trips, and a wrong one is named by its field") {
    test::temp_dir dir;
    const std::string etcd = R"("registry": {"backend": "etcd", "endpoints": ["https://10.0.0.1:2379", "https://10.0.0.2:2379"],
      "ca": "/etc/kubernetes/pki/etcd/ca.crt", "cert": "/etc/graft/etcd.crt", "key": "/etc/graft/etcd.key"}, "join")";
    test::write(dir / "config.json", with("\"join\"", etcd));
    auto c = coordinator_config::load(dir / "config.json");
    CHECK(c.registry.backend == "etcd");
    CHECK(c.registry.etcd_endpoints.size() == 2);
    CHECK(c.registry.etcd_prefix == "/graft/default/");
    test::write(dir / "again.json", c.to_json_text());
    CHECK(coordinator_config::load(dir / "again.json").to_json_text() == c.to_json_text());
    CHECK(coordinator_config::load(dir / "again.json").registry.etcd_key == "/etc/graft/etcd.key");

    CHECK_THAT(load_error(with("\"join\"", R"("registry": {"backend": "mysql"}, "join")")),
               Catch::Contains("'registry.backend'") && Catch::Contains("\"sqlite\" or \"etcd\""));
    CHECK_THAT(load_error(with("\"join\"", R"("registry": {"backend": "etcd", "ca": "a", "cert": "b", "key": "c"}, "join")")),
               Catch::Contains("'registry.endpoints'"));
    CHECK_THAT(load_error(with("\"join\"", R"("registry": {"backend": "etcd", "endpoints": ["http://10.0.0.1:2379"], "ca": "a",
                                               "cert": "b", "key": "c"}, "join")")),
               Catch::Contains("'registry.endpoints'") && Catch::Contains("http://10.0.0.1:2379"));
    CHECK_THAT(load_error(with("\"join\"", R"("registry": {"backend": "etcd", "endpoints": ["https://10.0.0.1:2379"], "ca": "a",
                                               "cert": "b", "key": "c", "prefix": "graft"}, "join")")),
               Catch::Contains("'registry.prefix'"));
    CHECK_THAT(load_error(with("\"join\"", R"("registry": {"backend": "etcd", "endpoints": ["https://10.0.0.1:2379"], "cert": "b",
                                               "key": "c"}, "join")")),
               Catch::Contains("'registry.ca'"));
}
