// The real graft-coordinator process on 127.0.0.1, with curl and openssl as the clients an operator would use.
#include "proto/messages.hpp"
#include "proto/pki.hpp"
#include "support/coordinator_api.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace graft;
using test::coordinator_process;
using test::curl;
using namespace graft::test::api;

namespace {

std::size_t node_count(coordinator_process& c) {
    auto r = get(c, "/v1/nodes");
    REQUIRE(r.status == 200);
    return proto::parse_json(r.body).at("nodes").size();
}

const std::string joining = R"({"phase": "joining"})";

}  // namespace

TEST_CASE("curl without a client certificate is refused on a node endpoint") {
    coordinator_process c;
    c.start();
    auto node = enroll(c);
    auto r = post(c, "/v1/nodes/" + node.name + "/report", joining);
    CHECK(r.status == 401);
    CHECK(error_code(r) == "client_certificate_required");
    CHECK(post(c, "/v1/nodes/" + node.name + "/report", joining, node.curl_identity()).status == 200);
}

TEST_CASE("a client certificate from another CA is refused at the TLS handshake") {
    coordinator_process c;
    c.start();
    auto node = enroll(c);
    // A certificate naming the same node, signed by a CA graft never heard of.
    auto r = test::run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", c.dir() / "rogue.key", "-out", c.dir() / "rogue.crt", "-subj", "/CN=" + node.name,
                        "-days", "1", "-addext", "extendedKeyUsage=clientAuth"});
    REQUIRE(r.exit_code == 0);
    auto res = post(c, "/v1/nodes/" + node.name + "/report", joining,
                    {"--cert", c.dir() / "rogue.crt", "--key", c.dir() / "rogue.key"});
    CHECK(res.status == 0);
    CHECK(res.exit_code != 0);
    CHECK(get(c, "/healthz").status == 200);
}

TEST_CASE("node A's certificate cannot report for node B") {
    coordinator_process c;
    c.start();
    auto a = enroll(c), b = enroll(c);
    auto r = post(c, "/v1/nodes/" + b.name + "/report", joining, a.curl_identity());
    CHECK(r.status == 403);
    CHECK(error_message(r) == "the client certificate belongs to " + a.name + ", not to " + b.name);
    auto status = proto::node_status::from_json(proto::parse_json(get(c, "/v1/nodes/" + b.name).body));
    CHECK(status.phase == "enrolled");
    r = post(c, "/v1/nodes/" + b.name + "/join", "{}", a.curl_identity());
    CHECK(r.status == 403);
}

TEST_CASE("a machine-id with another key is refused until nodes replace, then the old certificate is refused at once") {
    coordinator_process c;
    c.start();
    const std::string machine = test::random_machine_id();
    auto first = enroll(c, "raspberrypi", machine);
    CHECK(post(c, "/v1/nodes/" + first.name + "/report", joining, first.curl_identity()).status == 200);
    // Re-flashed (or stolen): the same machine-id, a new key.
    auto key = proto::generate_p256_key();
    const std::string body = enroll_body(token_of(c.boot_json()), *key, "raspberrypi", machine);
    auto refused = post(c, "/v1/enroll", body);
    CHECK(refused.status == 409);
    CHECK(error_code(refused) == "identity_conflict");
    CHECK_THAT(c.log(), Catch::Contains("identity conflict on " + first.name));
    CHECK(post(c, "/v1/nodes/" + first.name + "/report", joining, first.curl_identity()).status == 200);

    // The operator accepts it as a re-flash; the refused key enrolls and takes the name.
    auto replace = test::run({GRAFT_COORDINATOR_BIN, "nodes", "replace", first.name, "--config", c.config_path()});
    REQUIRE(replace.exit_code == 0);
    auto accepted = post(c, "/v1/enroll", body);
    REQUIRE(accepted.status == 200);
    auto second = proto::enroll_response::from_json(proto::parse_json(accepted.body));
    CHECK(second.node_name == first.name);
    auto r = post(c, "/v1/nodes/" + first.name + "/report", joining, first.curl_identity());
    CHECK(r.status == 403);
    CHECK(error_code(r) == "certificate_superseded");
    r = post(c, "/v1/nodes/" + first.name + "/join", "{}", first.curl_identity());
    CHECK(r.status == 403);
    CHECK(error_code(r) == "certificate_superseded");
    test::write(c.dir() / "second.key", proto::private_key_pem(*key));
    test::write(c.dir() / "second.crt", second.certificate_pem);
    CHECK(post(c, "/v1/nodes/" + first.name + "/report", joining,
               {"--cert", c.dir() / "second.crt", "--key", c.dir() / "second.key"}).status == 200);
}

TEST_CASE("a renewed certificate is used, and the one before is refused once it is") {
    coordinator_process c;
    c.start();
    auto node = enroll(c);
    auto key = proto::private_key_from_pem(test::read(node.key_path));
    const std::string renew = proto::renew_request{proto::make_csr_pem(*key, node.name)}.to_json().dump();
    auto r = post(c, "/v1/nodes/" + node.name + "/renew", renew, node.curl_identity());
    REQUIRE(r.status == 200);
    const std::string renewed = proto::renew_response::from_json(proto::parse_json(r.body)).certificate_pem;
    CHECK(renewed != test::read(node.cert_path));
    // Asked again before it is used (the answer was lost): the same certificate.
    r = post(c, "/v1/nodes/" + node.name + "/renew", renew, node.curl_identity());
    CHECK(proto::renew_response::from_json(proto::parse_json(r.body)).certificate_pem == renewed);
    // Until then the current certificate still speaks.
    CHECK(post(c, "/v1/nodes/" + node.name + "/report", joining, node.curl_identity()).status == 200);

    test::write(c.dir() / "renewed.crt", renewed);
    CHECK(post(c, "/v1/nodes/" + node.name + "/report", joining, {"--cert", c.dir() / "renewed.crt", "--key", node.key_path})
              .status == 200);
    r = post(c, "/v1/nodes/" + node.name + "/report", joining, node.curl_identity());
    CHECK(r.status == 403);
    CHECK(error_code(r) == "certificate_superseded");

    // Renewal keeps the key: a request for another is refused, naming the field.
    auto other = proto::generate_p256_key();
    r = post(c, "/v1/nodes/" + node.name + "/renew", proto::renew_request{proto::make_csr_pem(*other, node.name)}.to_json().dump(),
             {"--cert", c.dir() / "renewed.crt", "--key", node.key_path});
    CHECK(r.status == 400);
    CHECK_THAT(error_message(r), Catch::Contains("field 'csr'") && Catch::Contains("enrolling again"));
}

TEST_CASE("nodes delete revokes a node's certificate from the next request on, over real TLS") {
    coordinator_process c;
    c.start();
    auto node = enroll(c);
    CHECK(post(c, "/v1/nodes/" + node.name + "/report", joining, node.curl_identity()).status == 200);
    auto del = test::run({GRAFT_COORDINATOR_BIN, "nodes", "delete", node.name, "--config", c.config_path()});
    REQUIRE(del.exit_code == 0);
    for (const char* action : {"report", "join", "renew"}) {
        INFO(action);
        auto r = post(c, "/v1/nodes/" + node.name + "/" + action, "{}", node.curl_identity());
        CHECK(r.status == 403);
        CHECK(error_code(r) == "certificate_revoked");
    }
    CHECK(node_count(c) == 0);
}

TEST_CASE("a wrong or expired enrollment token gets 401 and no node is created") {
    coordinator_process c;
    c.start();
    auto key = proto::generate_p256_key();
    std::string good = token_of(c.boot_json());
    std::string wrong = good.substr(0, good.size() - 1) + (good.back() == 'a' ? "b" : "a");
    auto r = post(c, "/v1/enroll", enroll_body(wrong, *key));
    CHECK(r.status == 401);
    CHECK(error_code(r) == "invalid_enrollment_token");

    std::string short_lived = token_of(c.boot_config({"--token-ttl", "1s"}));
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    r = post(c, "/v1/enroll", enroll_body(short_lived, *key));
    CHECK(r.status == 401);
    CHECK(error_code(r) == "enrollment_token_expired");
    CHECK(node_count(c) == 0);
}

TEST_CASE("a token limited to one use enrolls one node only") {
    coordinator_process c;
    c.start();
    std::string once = token_of(c.boot_config({"--token-uses", "1"}));
    auto key = proto::generate_p256_key();
    CHECK(post(c, "/v1/enroll", enroll_body(once, *key)).status == 200);
    auto r = post(c, "/v1/enroll", enroll_body(once, *key));
    CHECK(r.status == 401);
    CHECK(error_code(r) == "enrollment_token_used_up");
    CHECK(node_count(c) == 1);
}

TEST_CASE("malformed JSON, a wrongly typed field and a 1 MiB body get 400, 400 and 413, and serving goes on") {
    coordinator_process c;
    c.start();
    auto r = post(c, "/v1/enroll", "{\"protocol_version\": 1, \"enrollment_token\": ");
    CHECK(r.status == 400);
    CHECK_THAT(error_message(r), Catch::StartsWith("malformed JSON at byte"));

    auto key = proto::generate_p256_key();
    auto body = proto::parse_json(enroll_body(token_of(c.boot_json()), *key));
    body["facts"]["machine_id"] = 42;
    r = post(c, "/v1/enroll", body.dump());
    CHECK(r.status == 400);
    CHECK(error_message(r) == "field 'facts.machine_id': expected a string, got an integer");

    // Repeated: the answer must reach the client every time, not be lost to a reset while the client still sends.
    for (int i = 0; i < 10; ++i) {
        r = post(c, "/v1/enroll", std::string(1024 * 1024, 'x'));
        CHECK(r.status == 413);
        CHECK(error_code(r) == "payload_too_large");
    }

    CHECK(node_count(c) == 0);
    CHECK(get(c, "/healthz").status == 200);
    enroll(c);
    CHECK(node_count(c) == 1);
}

TEST_CASE("a CSR that names another node yields a certificate for the coordinator's name only") {
    coordinator_process c;
    c.start();
    auto first = enroll(c);
    auto second = enroll(c, first.name);  // asks to be node-1
    CHECK(second.name != first.name);
    auto subject = test::run({"openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", second.cert_path});
    REQUIRE(subject.exit_code == 0);
    CHECK(subject.output == "subject=CN=" + second.name + ",O=graft:nodes\n");
    auto verify = test::run({"openssl", "verify", "-CAfile", c.ca_path(), "-purpose", "sslclient", second.cert_path});
    CHECK(verify.exit_code == 0);
    // And that certificate speaks for its own name only.
    CHECK(post(c, "/v1/nodes/" + first.name + "/report", joining, second.curl_identity()).status == 403);
}

TEST_CASE("kill -9 right after an enrollment was acknowledged loses nothing") {
    coordinator_process c;
    c.start();
    auto node = enroll(c);
    c.kill9();
    c.start();
    auto r = get(c, "/v1/nodes/" + node.name);
    REQUIRE(r.status == 200);
    CHECK(proto::node_status::from_json(proto::parse_json(r.body)).phase == "enrolled");
    // The certificate issued before the crash is still the node's identity.
    CHECK(post(c, "/v1/nodes/" + node.name + "/report", joining, node.curl_identity()).status == 200);
}

TEST_CASE("TLS below 1.3 is refused") {
    coordinator_process c;
    c.start();
    auto r = curl(c.url() + "/healthz", {"--cacert", c.ca_path(), "--tls-max", "1.2"});
    CHECK(r.status == 0);
    CHECK(r.exit_code != 0);
    auto s = test::run({"sh", "-c", "openssl s_client -connect 127.0.0.1:" + std::to_string(c.port()) +
                                        " -tls1_3 -CAfile '" + c.ca_path() + "' -verify_return_error </dev/null"});
    CHECK(s.output.find("New, TLSv1.3, Cipher is") != std::string::npos);
    CHECK(s.output.find("Verify return code: 0 (ok)") != std::string::npos);
}

TEST_CASE("SIGTERM stops the coordinator cleanly") {
    coordinator_process c;
    c.start();
    c.stop();
    CHECK(c.log().find("stopping") != std::string::npos);
    CHECK(get(c, "/healthz").status == 0);
}

namespace {
// A TCP connection from `source` (a loopback address of the test's choosing) that never sends a byte.
int idle_connection(const std::string& source, unsigned short port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    return fd;
}
// Whether the coordinator has closed the connection (a read sees the end, or a reset).
bool closed_by_peer(int fd) {
    char byte;
    const auto n = ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}
}  // namespace

TEST_CASE("a host holding 1100 idle connections keeps only its share, and enrollment from elsewhere is not held up") {
    coordinator_process c;
    c.add_serve_flags({"--max-connections-per-address", "100"});
    c.start();
    std::vector<int> flood;  // 1,100 connections
    for (int i = 0; i < 1100; ++i) flood.push_back(idle_connection("127.0.0.2", c.port()));
    // The coordinator keeps 100 of them, waiting for a first byte that never comes, and closes the rest before any TLS.
    std::size_t closed = 0;
    for (int i = 0; i < 100 && closed != 1000; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        closed = static_cast<std::size_t>(std::count_if(flood.begin(), flood.end(), closed_by_peer));
    }
    CHECK(closed == 1000);

    // A node on another address enrolls meanwhile. Before the limits the flood took every descriptor, and
    // enrollment waited for the 10 s handshake timeout to free some; 5 s is a bound on being held up, not a benchmark.
    auto key = proto::generate_p256_key();
    auto r = post(c, "/v1/enroll", enroll_body(token_of(c.boot_json()), *key), {"--max-time", "5"});
    CHECK(r.status == 200);
    for (int fd : flood) ::close(fd);
    CHECK(get(c, "/healthz").status == 200);
}

namespace {
// A tmpfs of `size` mounted over `dir` (its files copied in first) for as long as it lives: a disk that fills up.
struct small_disk {
    std::string dir, saved;
    small_disk(const std::string& directory, const std::string& size) : dir(directory), saved(directory + ".saved") {
        REQUIRE(test::run({"cp", "-a", dir, saved}).exit_code == 0);
        auto m = test::run({"mount", "-t", "tmpfs", "-o", "size=" + size + ",mode=0700", "tmpfs", dir});
        INFO(m.output);
        REQUIRE(m.exit_code == 0);
        REQUIRE(test::run({"cp", "-a", saved + "/.", dir}).exit_code == 0);
    }
    ~small_disk() { test::run({"umount", "-l", dir}); }
    // Writes a file until the disk is full.
    void fill() const { test::run({"dd", "if=/dev/zero", "of=" + dir + "/filler", "bs=4k"}); }
    void free_up() const { std::filesystem::remove(dir + "/filler"); }
};
}  // namespace

TEST_CASE("a full disk answers 503 with Retry-After, loses nothing, and enrollment goes on once there is room") {
    INFO("the test suite runs as root (README): mounting a small tmpfs needs it");
    REQUIRE(::geteuid() == 0);
    coordinator_process c;
    small_disk disk(c.state_dir(), "2m");
    c.start();
    auto first = enroll(c);
    disk.fill();

    auto key = proto::generate_p256_key();
    const std::string body = enroll_body(token_of(c.boot_json()), *key);
    auto r = post(c, "/v1/enroll", body, {"-D", c.dir() / "headers"});
    CHECK(r.status == 503);
    CHECK(error_code(r) == "registry_unavailable");
    CHECK_THAT(test::read(c.dir() / "headers"), Catch::Contains("retry-after: 30") || Catch::Contains("Retry-After: 30"));
    CHECK(post(c, "/v1/nodes/" + first.name + "/report", joining, first.curl_identity()).status == 503);

    disk.free_up();
    r = post(c, "/v1/enroll", body);
    CHECK(r.status == 200);
    CHECK(post(c, "/v1/nodes/" + first.name + "/report", joining, first.curl_identity()).status == 200);
    CHECK(node_count(c) == 2);
    // Kill -9 and read it again: what was acknowledged is there, what was refused left no trace.
    c.kill9();
    c.start();
    CHECK(node_count(c) == 2);
    CHECK(proto::node_status::from_json(proto::parse_json(get(c, "/v1/nodes/" + first.name).body)).phase == "joining");
}

TEST_CASE("2000 agents at once from 100 addresses all enroll, told to come back with 503 or 429 and Retry-After") {
    coordinator_process c;
    // One enrollment a second per address, with no burst: 20 agents from each address are more than that allows
    // however fast this machine runs them (under ASan the crowd arrives too slowly to fill the handlers' queue).
    c.add_serve_flags({"--enroll-rate", "1", "--enroll-burst", "1"});
    c.start();
    test::write(c.dir() / "fleet.json", c.boot_json());
    // graft-fleet asks again after each Retry-After, as graft-agent does; every one of its 2,000 must end enrolled.
    auto r = test::run({GRAFT_FLEET_BIN, "--boot-config", c.dir() / "fleet.json", "--nodes", "2000", "--concurrency",
                        "2000", "--sources", "100", "--enroll-only"},
                       {}, std::chrono::seconds(100));  // under ASan on a loaded machine it has taken 60 s
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("2000 completed, 0 failed") && Catch::Contains("with Retry-After, and asked again"));
    CHECK(node_count(c) == 2000);
    CHECK(get(c, "/healthz").status == 200);
}

// ---- Serving: session resumption, listing pages, watches ----

namespace {

// curl -v's account of its handshakes: how many connections got the server's certificate (full handshakes).
std::size_t full_handshakes(const std::string& verbose) {
    std::size_t n = 0;
    for (auto at = verbose.find("(IN), TLS handshake, Certificate (11)"); at != std::string::npos;
         at = verbose.find("(IN), TLS handshake, Certificate (11)", at + 1))
        ++n;
    return n;
}

// One request through openssl s_client, saving or offering a session; its whole output (handshake summary and the
// HTTP response).
std::string s_client(coordinator_process& c, const std::string& request, std::vector<std::string> extra) {
    test::write(c.dir() / "request.txt", request);
    // The request, then a second's wait for the answer before stdin closes.
    std::vector<std::string> argv{"sh", "-c",
                                  "f=$0; (cat \"$f\"; sleep 1) | openssl s_client -ign_eof \"$@\" 2>&1",
                                  c.dir() / "request.txt", "-connect", "127.0.0.1:" + std::to_string(c.port()),
                                  "-CAfile", c.ca_path()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::run(argv).output;
}

std::string report_request(const std::string& name) {
    const std::string body = R"({"phase": "joining"})";
    return "POST /v1/nodes/" + name + "/report HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("curl asking twice with Connection: close resumes its TLS session, with and without a client certificate") {
    coordinator_process c;
    c.start();
    auto node = enroll(c);
    // Before the session id context was set, the second connection failed with a fatal internal_error alert.
    auto plain = curl(c.url() + "/healthz", {"-v", "--cacert", c.ca_path(), "-H", "Connection: close", "-o", "/dev/null",
                                             "-o", "/dev/null", c.url() + "/healthz"});
    INFO(plain.body);
    CHECK(plain.exit_code == 0);
    CHECK(plain.status == 200);
    CHECK(plain.body.find("SSL re-using session ID") != std::string::npos);
    CHECK(full_handshakes(plain.body) == 1);

    // A node's two reports: the second rides the resumed session, which still carries the node's certificate.
    test::write(c.dir() / "report.json", joining);
    auto reports = curl(c.url() + "/v1/nodes/" + node.name + "/report",
                        {"-v", "--cacert", c.ca_path(), "--cert", node.cert_path, "--key", node.key_path, "-H",
                         "Connection: close", "-H", "Content-Type: application/json", "--data-binary",
                         "@" + (c.dir() / "report.json"), "-o", "/dev/null", "-o", "/dev/null",
                         c.url() + "/v1/nodes/" + node.name + "/report"});
    INFO(reports.body);
    CHECK(reports.exit_code == 0);
    CHECK(reports.status == 200);
    CHECK(full_handshakes(reports.body) == 1);
}

TEST_CASE("openssl s_client resumes a saved session, after a coordinator restart too, and a deleted node's resumed session is refused") {
    coordinator_process c;
    c.start();
    auto node = enroll(c);
    const std::string session = c.dir() / "session.pem";
    auto first = s_client(c, report_request(node.name),
                          {"-cert", node.cert_path, "-key", node.key_path, "-sess_out", session});
    INFO(first);
    REQUIRE(first.find("HTTP/1.1 200") != std::string::npos);
    CHECK(first.find("New, TLSv1.3") != std::string::npos);

    auto resumed = s_client(c, report_request(node.name), {"-sess_in", session});
    INFO(resumed);
    CHECK(resumed.find("Reused, TLSv1.3") != std::string::npos);
    CHECK(resumed.find("HTTP/1.1 200") != std::string::npos);

    // The ticket keys are in the state directory: a restarted coordinator opens the tickets it sealed before.
    c.stop();
    c.start();
    auto after_restart = s_client(c, report_request(node.name), {"-sess_in", session});
    INFO(after_restart);
    CHECK(after_restart.find("Reused, TLSv1.3") != std::string::npos);
    CHECK(after_restart.find("HTTP/1.1 200") != std::string::npos);
    CHECK(std::filesystem::status(c.state_dir() + "/ticket-keys").permissions() ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));

    // The session resumes, but the certificate it carries speaks for nobody once the node is deleted.
    REQUIRE(test::run({GRAFT_COORDINATOR_BIN, "nodes", "delete", node.name, "--config", c.config_path()}).exit_code == 0);
    auto revoked = s_client(c, report_request(node.name), {"-sess_in", session});
    INFO(revoked);
    CHECK(revoked.find("Reused, TLSv1.3") != std::string::npos);
    CHECK(revoked.find("HTTP/1.1 403") != std::string::npos);
    CHECK(revoked.find("certificate_revoked") != std::string::npos);
}

TEST_CASE("the node listing pages with limit and continue, filters by phase, and refuses a wrong query by name") {
    coordinator_process c;
    c.start();
    std::vector<enrolled_node> nodes;
    for (int i = 0; i < 5; ++i) nodes.push_back(enroll(c));
    REQUIRE(post(c, "/v1/nodes/" + nodes[1].name + "/report", joining, nodes[1].curl_identity()).status == 200);
    REQUIRE(post(c, "/v1/nodes/" + nodes[3].name + "/report", joining, nodes[3].curl_identity()).status == 200);

    std::vector<std::string> seen;
    std::string next;
    int pages = 0;
    do {
        auto r = get(c, "/v1/nodes?limit=2" + (next.empty() ? std::string() : "&continue=" + next));
        REQUIRE(r.status == 200);
        auto body = proto::parse_json(r.body);
        CHECK(body.at("nodes").size() <= 2);
        for (const auto& n : body.at("nodes")) seen.push_back(n.at("name"));
        next = body.at("metadata").value("continue", "");
        ++pages;
    } while (!next.empty() && pages < 10);
    CHECK(pages == 3);
    CHECK(seen == std::vector<std::string>{"node-1", "node-2", "node-3", "node-4", "node-5"});

    auto joiners = proto::parse_json(get(c, "/v1/nodes?phase=joining").body).at("nodes");
    REQUIRE(joiners.size() == 2);
    CHECK(joiners[0].at("name") == nodes[1].name);
    CHECK(joiners[1].at("name") == nodes[3].name);

    for (const auto& [query, named] : std::vector<std::pair<std::string, std::string>>{
             {"limit=0", "'limit'"}, {"limit=many", "'limit'"}, {"phase=sleeping", "'phase'"},
             {"continue=..%2F", "'continue'"}, {"colour=red", "'colour'"}}) {
        INFO(query);
        auto r = get(c, "/v1/nodes?" + query);
        CHECK(r.status == 400);
        CHECK(error_code(r) == "invalid_query");
        CHECK_THAT(error_message(r), Catch::Contains(named));
    }
    CHECK(node_count(c) == 5);  // nothing changed by a refused query

    // An operator's command changes the registry behind the coordinator's back; the next listing shows it.
    REQUIRE(test::run({GRAFT_COORDINATOR_BIN, "nodes", "delete", "node-5", "--config", c.config_path()}).exit_code == 0);
    CHECK(node_count(c) == 4);
}

TEST_CASE("a watch streams the nodes there are, then each change as a server-sent event") {
    coordinator_process c;
    c.start();
    auto first = enroll(c);
    const std::string events = c.dir() / "events.txt";
    // curl -N as an EventSource would: the stream stays open until --max-time ends it.
    std::vector<std::string> watch{"/usr/bin/curl", "-sS", "-N", "--max-time", "6", "--cacert", c.ca_path(), "-o", events};
    for (const auto& a : c.operator_identity()) watch.push_back(a);
    watch.push_back(c.url() + "/v1/nodes?watch=true&phase=joining");
    test::child watcher(watch, c.dir() / "watch.log");
    auto second = enroll(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    REQUIRE(post(c, "/v1/nodes/" + second.name + "/report", joining, second.curl_identity()).status == 200);
    REQUIRE(post(c, "/v1/nodes/" + first.name + "/report", joining, first.curl_identity()).status == 200);
    REQUIRE(post(c, "/v1/nodes/" + first.name + "/report", R"({"phase": "failed", "message": "disk full"})",
                 first.curl_identity()).status == 200);
    std::string text;
    for (int i = 0; i < 100 && text.find("disk full") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        text = std::filesystem::exists(events) ? test::read(events) : "";
    }
    INFO(text);
    // Filtered by phase: node-2 enters joining (ADDED), node-1 enters it (ADDED) and leaves it (DELETED); nothing
    // of the nodes while they were enrolled.
    auto added2 = text.find("event: ADDED\nid: ");
    REQUIRE(added2 != std::string::npos);
    CHECK(text.find("\"name\":\"" + second.name + "\"", added2) != std::string::npos);
    auto deleted = text.find("event: DELETED");
    REQUIRE(deleted != std::string::npos);
    CHECK(text.find("disk full", deleted) != std::string::npos);
    CHECK(text.find("\"phase\":\"enrolled\"") == std::string::npos);
}

TEST_CASE("a session resumed after its client certificate expired is refused with 401 naming the certificate") {
    coordinator_process c;
    c.start();
    // A client certificate for node-1 from graft's own CA that expires a few seconds from now, made with `openssl
    // ca` (the coordinator issues certificates for at least an hour).
    const auto& dir = c.dir();
    test::write(dir / "ca.cnf", "[ca]\ndefault_ca = c\n[c]\ndatabase = " + (dir / "index.txt") + "\nnew_certs_dir = " +
                                    std::string(dir.path()) + "\nserial = " + (dir / "serial") +
                                    "\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n"
                                    "[ext]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\n"
                                    "extendedKeyUsage = clientAuth\n");
    test::write(dir / "index.txt", "");
    test::write(dir / "serial", "1000\n");
    REQUIRE(test::run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                       "-keyout", dir / "short.key", "-subj", "/CN=node-1", "-out", dir / "short.csr"})
                .exit_code == 0);
    auto stamp = [](std::chrono::system_clock::time_point t) {
        const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
        std::tm utc{};
        ::gmtime_r(&seconds, &utc);
        char text[32];
        std::strftime(text, sizeof text, "%Y%m%d%H%M%SZ", &utc);
        return std::string(text);
    };
    const auto expiry = std::chrono::system_clock::now() + std::chrono::seconds(6);
    auto signed_ = test::run({"openssl", "ca", "-batch", "-config", dir / "ca.cnf", "-cert", c.ca_path(), "-keyfile",
                              c.state_dir() + "/ca.key", "-in", dir / "short.csr", "-out", dir / "short.crt",
                              "-startdate", stamp(std::chrono::system_clock::now() - std::chrono::hours(1)), "-enddate",
                              stamp(expiry), "-extensions", "ext", "-notext"});
    INFO(signed_.output);
    REQUIRE(signed_.exit_code == 0);

    // While it is valid: a full handshake, and a session saved.
    const std::string session = dir / "short-session.pem";
    auto first = s_client(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                          {"-cert", dir / "short.crt", "-key", dir / "short.key", "-sess_out", session});
    INFO(first);
    REQUIRE(first.find("HTTP/1.1 200") != std::string::npos);
    std::this_thread::sleep_until(expiry + std::chrono::seconds(2));

    // The session still resumes, but the certificate it carries no longer speaks for anyone.
    auto late = s_client(c, report_request("node-1"), {"-sess_in", session});
    INFO(late);
    CHECK(late.find("Reused, TLSv1.3") != std::string::npos);
    CHECK(late.find("HTTP/1.1 401") != std::string::npos);
    CHECK(late.find("outside its validity period") != std::string::npos);
}
