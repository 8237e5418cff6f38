#include "proto/log.hpp"
#include "proto/messages.hpp"
#include "proto/pki.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

using namespace graft::proto;

namespace {

json valid_enroll() {
    auto key = generate_p256_key();
    return {{"protocol_version", 1},
            {"enrollment_token", "abcd1234.secret"},
            {"csr", make_csr_pem(*key, "raspberrypi")},
            {"facts",
             {{"machine_id", "0123456789abcdef0123456789abcdef"},
              {"serial", "10000000abcdef"},
              {"model", "Raspberry Pi 4 Model B Rev 1.4"},
              {"arch", "aarch64"},
              {"hostname", "raspberrypi"},
              {"macs", {"dc:a6:32:00:00:01"}},
              {"addresses", {"192.168.1.20"}},
              {"os", "Debian GNU/Linux 12 (bookworm)"},
              {"kernel", "6.6.31+rpt-rpi-v8"},
              {"cgroup_version", 2}}}};
}

std::string error_of(const json& j) {
    try {
        enroll_request::from_json(j);
    } catch (const validation_error& e) {
        return e.what();
    }
    return "(accepted)";
}

}  // namespace

TEST_CASE("a complete enroll request survives a round trip through JSON") {
    auto req = enroll_request::from_json(valid_enroll());
    CHECK(req.facts.model == "Raspberry Pi 4 Model B Rev 1.4");
    CHECK(req.facts.cgroup_version == 2);
    auto again = enroll_request::from_json(req.to_json());
    CHECK(again.to_json() == req.to_json());
}

TEST_CASE("a missing field is refused with its dotted name") {
    auto j = valid_enroll();
    j["facts"].erase("machine_id");
    CHECK(error_of(j) == "field 'facts.machine_id': is required");
    j = valid_enroll();
    j.erase("csr");
    CHECK(error_of(j) == "field 'csr': is required");
}

TEST_CASE("an unknown field is refused with its name, at any depth") {
    auto j = valid_enroll();
    j["tokn"] = "typo";
    CHECK(error_of(j) == "field 'tokn': is not a known field");
    j = valid_enroll();
    j["facts"]["gpu"] = "none";
    CHECK(error_of(j) == "field 'facts.gpu': is not a known field");
}

TEST_CASE("a wrongly typed field is refused with its name and both types") {
    auto j = valid_enroll();
    j["protocol_version"] = "1";
    CHECK(error_of(j) == "field 'protocol_version': expected an integer, got a string");
    j = valid_enroll();
    j["facts"]["macs"] = {"dc:a6:32:00:00:01", 7};
    CHECK(error_of(j) == "field 'facts.macs[1]': expected a string, got an integer");
    j = valid_enroll();
    j["facts"] = "none";
    CHECK(error_of(j) == "field 'facts': expected an object, got a string");
}

TEST_CASE("values outside their rules are refused: machine-id, CSR, cgroup version, length") {
    auto j = valid_enroll();
    j["facts"]["machine_id"] = "not-a-machine-id";
    CHECK_THAT(error_of(j), Catch::Contains("facts.machine_id") && Catch::Contains("32 lowercase hex"));
    j = valid_enroll();
    j["csr"] = "hello";
    CHECK_THAT(error_of(j), Catch::Contains("'csr'") && Catch::Contains("PEM CERTIFICATE REQUEST"));
    j = valid_enroll();
    j["facts"]["cgroup_version"] = 3;
    CHECK_THAT(error_of(j), Catch::Contains("facts.cgroup_version"));
    j = valid_enroll();
    j["facts"]["model"] = std::string(300, 'x');
    CHECK_THAT(error_of(j), Catch::Contains("facts.model") && Catch::Contains("longer than 256"));
}

TEST_CASE("malformed JSON is refused with the byte where it broke") {
    CHECK_THROWS_WITH(parse_json("{\"phase\": "), Catch::Contains("malformed JSON at byte"));
}

TEST_CASE("a report names an unknown phase") {
    CHECK_THROWS_WITH(node_report::from_json({{"phase", "dancing"}}), "field 'phase': unknown phase 'dancing'");
    CHECK(node_report::from_json({{"phase", "joined"}}).phase == phase::joined);
}

TEST_CASE("every phase name reads back as itself") {
    for (auto p : {phase::flashed, phase::booted, phase::enrolled, phase::configuring, phase::rebooting, phase::configured,
                   phase::joining, phase::joined, phase::ready, phase::failed, phase::pending_approval, phase::deleted})
        CHECK(phase_from_string(to_string(p)) == p);
    CHECK_FALSE(phase_from_string("Ready").has_value());
}

TEST_CASE("node names follow Kubernetes' RFC 1123 label rule") {
    CHECK(is_node_name("node-1"));
    CHECK(is_node_name(std::string(63, 'a')));
    CHECK_FALSE(is_node_name(std::string(64, 'a')));
    CHECK_FALSE(is_node_name("Node-1"));
    CHECK_FALSE(is_node_name("-node"));
    CHECK_FALSE(is_node_name("node-"));
    CHECK_FALSE(is_node_name("node.1"));
    CHECK_FALSE(is_node_name(""));
}

TEST_CASE("a join spec checks its token and CA hashes, and shows its command redacted") {
    json j{{"node_name", "node-1"},
           {"flavour", "kubeadm"},
           {"api_server_endpoint", "10.0.0.1:6443"},
           {"token", "abcdef.0123456789abcdef"},
           {"ca_cert_hashes", {"sha256:" + std::string(64, 'a')}},
           {"expires_at", "2026-11-23T12:00:00Z"}};
    auto spec = join_spec::from_json(j);
    CHECK(spec.display_command() == "kubeadm join 10.0.0.1:6443 --token abcdef.**************** "
                                    "--discovery-token-ca-cert-hash sha256:" + std::string(64, 'a'));
    CHECK(spec.display_command().find("0123456789abcdef") == std::string::npos);

    auto bad = j;
    bad["token"] = "ABCDEF.0123456789abcdef";
    CHECK_THROWS_WITH(join_spec::from_json(bad), Catch::Contains("field 'token'"));
    bad = j;
    bad["ca_cert_hashes"] = json::array();
    CHECK_THROWS_WITH(join_spec::from_json(bad), Catch::Contains("field 'ca_cert_hashes'"));
    bad = j;
    bad["ca_cert_hashes"] = {"md5:abc"};
    CHECK_THROWS_WITH(join_spec::from_json(bad), Catch::Contains("ca_cert_hashes[0]"));
    bad = j;
    bad["expires_at"] = "tomorrow";
    CHECK_THROWS_WITH(join_spec::from_json(bad), Catch::Contains("field 'expires_at'"));
}

TEST_CASE("bootstrap tokens are recognised and redacted from text") {
    CHECK(is_bootstrap_token("abcdef.0123456789abcdef"));
    CHECK_FALSE(is_bootstrap_token("abcdef0123456789abcdef"));
    CHECK_FALSE(is_bootstrap_token("abcde.0123456789abcdefg"));
    CHECK(redact_tokens("using token abcdef.0123456789abcdef now") == "using token <token> now");
}

TEST_CASE("an error body has the documented shape") {
    error_body e{"unknown_node", "no node named node-9"};
    CHECK(e.to_json() == json{{"error", {{"code", "unknown_node"}, {"message", "no node named node-9"}}}});
    CHECK(error_body::from_json(e.to_json()).message == "no node named node-9");
}

TEST_CASE("k3s and k0s join specs check their own token forms, and show their commands with the secret hidden") {
    auto spec_json = [](const std::string& flavour, const std::string& token) {
        return json{{"node_name", "node-1"}, {"flavour", flavour}, {"api_server_endpoint", "10.0.0.1:6443"},
                           {"token", token}, {"ca_cert_hashes", json::array()}, {"expires_at", ""}};
    };
    const std::string k3s = "K10" + std::string(64, 'c') + "::abcdef.0123456789abcdef";
    auto spec = join_spec::from_json(spec_json("k3s", k3s));
    CHECK(spec.display_command() == "k3s agent --server https://10.0.0.1:6443 --token K10" + std::string(64, 'c') +
                                        "::abcdef.****************");
    CHECK_THROWS_WITH(join_spec::from_json(spec_json("k3s", "abcdef.0123456789abcdef")),
                      Catch::Contains("token") && Catch::Contains("k3s secure token"));
    spec = join_spec::from_json(spec_json("k0s", "H4sIAAAAAAAA/2RP"));
    CHECK(spec.display_command().find("H4sI") == std::string::npos);
    CHECK_THROWS_WITH(join_spec::from_json(spec_json("k0s", "two words")), Catch::Contains("k0s join token"));
    CHECK_THROWS_WITH(join_spec::from_json(spec_json("kubeadm", "abcdef.0123456789abcdef")),
                      Catch::Contains("ca_cert_hashes"));
    CHECK_THROWS_WITH(join_spec::from_json(spec_json("microk8s", "x")), Catch::Contains("flavour"));
}

TEST_CASE("a number out of range and a key given twice are refused naming the field") {
    CHECK_THROWS_WITH(parse_json(R"({"facts": {"cgroup_version": 1e400}})"), "field 'facts.cgroup_version': is a number out of range");
    CHECK_THROWS_WITH(parse_json(R"({"phase": "joined", "reason": "a", "phase": "ready"})"),
                      "field 'phase': appears twice; give each field once");
    CHECK_THROWS_WITH(parse_json(R"({"facts": {"arch": "aarch64", "arch": "x86_64"}, "arch": 1})"),
                      "field 'facts.arch': appears twice; give each field once");
    // The same key in two different objects is not a duplicate.
    CHECK(parse_json(R"({"a": {"x": 1}, "b": {"x": 2}, "x": [{"x": 3}, {"x": 4}]})")["b"]["x"] == 2);
}

TEST_CASE("text from outside is escaped for a log line or a terminal, printable UTF-8 kept") {
    CHECK(escape_for_display("node-1 ready") == "node-1 ready");
    CHECK(escape_for_display("Jörg's Pi — 4 Model B") == "Jörg's Pi — 4 Model B");
    CHECK(escape_for_display("a\nb\rc\td\x1b[31m") == "a\\nb\\rc\\td\\e[31m");
    CHECK(escape_for_display(std::string("nul\0del\x7f", 8)) == "nul\\x00del\\x7f");
    CHECK(escape_for_display("c1 \xc2\x9b") == "c1 \\xc2\\x9b");                 // U+009B, the 8-bit CSI
    CHECK(escape_for_display("rtl \xe2\x80\xae") == "rtl \\xe2\\x80\\xae");      // U+202E, right-to-left override
    CHECK(escape_for_display("bad \xff\xc3") == "bad \\xff\\xc3");               // not UTF-8
    CHECK(escape_for_display("overlong \xc0\xaf") == "overlong \\xc0\\xaf");
}

TEST_CASE("a log line carries a hostile CSR name as one escaped line, not a forged second line") {
    // log() writes to stderr here (no journal stream): capture it in a file.
    char path[] = "/tmp/graft-log-test.XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    std::fflush(stderr);
    const int saved = ::dup(2);
    ::dup2(fd, 2);
    log_info("node node-1 enrolled\nforged", {{"GRAFT_CSR_NAME", "pi\ngraft: node node-99 is Ready\x1b[0m"}});
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ::close(fd);
    ::unlink(path);
    CHECK(std::count(text.begin(), text.end(), '\n') == 1);
    CHECK_THAT(text, Catch::Contains("node node-1 enrolled\\nforged GRAFT_CSR_NAME=pi\\ngraft: node node-99 is Ready\\e[0m"));
}
