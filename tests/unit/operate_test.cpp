// The pieces of operating the fleet that need no server: reading a node's journal (and what stands in without
// one), the dashboard's sign-in, the metrics' exposition, and what host preparation reports per step.
#include "agent/journal.hpp"
#include "coordinator/dashboard/sessions.hpp"
#include "coordinator/status/metrics.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;

TEST_CASE("a node without a journal sends the tail of /var/log/UNIT.log, bounded, or says there is none") {
    test::temp_dir root;
    agent::journal_reader reader{{"/nonexistent/journalctl"}, root.path().string()};
    auto none = agent::read_journal(reader, "k3s-agent", 50, "join attempt 1 failed");
    CHECK(none.unit == "k3s-agent.service");
    REQUIRE(none.lines.size() == 1);
    CHECK_THAT(none.lines[0], Catch::Contains("no systemd journal") && Catch::Contains("/var/log/k3s-agent.log"));

    std::string log;
    for (int i = 1; i <= 80; ++i) log += "line " + std::to_string(i) + "\n";
    log += std::string(3000, 'x') + " token abcdef.0123456789abcdef\n";
    test::write(root / "var/log/k3s-agent.log", log);
    auto tail = agent::read_journal(reader, "k3s-agent", 50, "join attempt 1 failed");
    REQUIRE(tail.lines.size() == 50);
    CHECK(tail.truncated);
    CHECK(tail.lines.front() == "line 32");
    // A long line is cut, and a join token in it redacted before it leaves the node.
    CHECK(tail.lines.back().size() <= proto::max_journal_line);
    CHECK(tail.lines.back().find("0123456789abcdef") == std::string::npos);
    // The byte bound drops the oldest lines first.
    auto small = agent::read_journal(reader, "k3s-agent", 50, "asked", 1200);
    CHECK(small.lines.back() == tail.lines.back());
    CHECK(small.lines.size() < tail.lines.size());
    std::size_t bytes = 0;
    for (const auto& line : small.lines) bytes += line.size() + 8;  // as the bound counts a line in JSON
    CHECK(bytes <= 1200);
}

TEST_CASE("an empty journal says so for the unit, and is marked empty so the agent leaves it out") {
    test::temp_dir empty;
    agent::journal_reader reader{{"journalctl", "-D", empty.path().string()}, "/"};
    auto e = agent::read_journal(reader, "docker", 20, "join attempt 1 failed");
    CHECK(e.empty);
    REQUIRE(e.lines.size() == 1);
    CHECK_THAT(e.lines[0], Catch::Contains("docker.service"));
    CHECK(agent::relevant_units("k3s") == std::vector<std::string>{"k3s-agent", "graft-agent"});
    CHECK(agent::relevant_units("kubeadm").front() == "kubelet");
}

TEST_CASE("a dashboard sign-in token works once and for five minutes, and the session cookie is read among others") {
    coordinator::dashboard_sessions sessions;
    const std::int64_t now = 1'800'000'000;
    auto grant = sessions.issue_token("alice", now);
    CHECK(grant.token.size() == 64);
    std::string forged = grant.token;
    forged[0] = forged[0] == '0' ? '1' : '0';  // another token, whatever the first digit was
    CHECK_FALSE(sessions.redeem(forged, now + 1));
    auto session = sessions.redeem(grant.token, now + 10);
    REQUIRE(session);
    CHECK(session->second == "alice");
    CHECK_FALSE(sessions.redeem(grant.token, now + 11));  // spent
    CHECK(sessions.operator_of("theme=dark; graft_session=" + session->first + "; lang=en", now + 20) == "alice");
    CHECK_FALSE(sessions.operator_of("graft_session=" + session->first + "x", now + 20));
    CHECK_FALSE(sessions.operator_of("graft_session=" + session->first, now + coordinator::dashboard_sessions::session_seconds + 20));
    auto late = sessions.issue_token("bob", now);
    CHECK_FALSE(sessions.redeem(late.token, now + coordinator::dashboard_sessions::token_seconds));
    const auto cookie = coordinator::dashboard_sessions::cookie("abc");
    CHECK_THAT(cookie, Catch::Contains("HttpOnly") && Catch::Contains("Secure") && Catch::Contains("SameSite=Strict"));
}

TEST_CASE("metrics name each request's endpoint, and a histogram's buckets add up to its count") {
    using coordinator::endpoint;
    CHECK(coordinator::endpoint_of("POST", "/v1/nodes/node-1/report") == endpoint::report);
    CHECK(coordinator::endpoint_of("GET", "/v1/nodes?watch=true&phase=failed") == endpoint::watch);
    CHECK(coordinator::endpoint_of("GET", "/v1/nodes?limit=5") == endpoint::nodes);
    CHECK(coordinator::endpoint_of("GET", "/v1/nodes/node-1") == endpoint::node);
    CHECK(coordinator::endpoint_of("GET", "/dashboard.js") == endpoint::dashboard);
    CHECK(coordinator::endpoint_of("GET", "/etc/passwd") == endpoint::other);

    coordinator::fleet_metrics m;
    m.request(endpoint::join, 200, std::chrono::microseconds(300));
    m.request(endpoint::join, 503, std::chrono::milliseconds(30));
    m.request(endpoint::join, 200, std::chrono::seconds(20));
    m.enrollment("accepted");
    m.enrollment("rate_limited");
    m.enrollment("rate_limited");
    const auto text = m.render(nullptr, nullptr);
    CHECK_THAT(text, Catch::Contains("graft_http_request_duration_seconds_bucket{endpoint=\"join\",le=\"0.0005\"} 1\n") &&
                         Catch::Contains("graft_http_request_duration_seconds_bucket{endpoint=\"join\",le=\"0.05\"} 2\n") &&
                         Catch::Contains("graft_http_request_duration_seconds_bucket{endpoint=\"join\",le=\"10\"} 2\n") &&
                         Catch::Contains("graft_http_request_duration_seconds_bucket{endpoint=\"join\",le=\"+Inf\"} 3\n") &&
                         Catch::Contains("graft_http_request_duration_seconds_count{endpoint=\"join\"} 3\n") &&
                         Catch::Contains("graft_http_responses_total{endpoint=\"join\",code=\"5xx\"} 1\n") &&
                         Catch::Contains("graft_enrollments_total{outcome=\"rate_limited\"} 2\n"));
    // Without a snapshot or a cluster, their families are left out rather than shown empty.
    CHECK(text.find("graft_nodes") == std::string::npos);
    CHECK(text.find("graft_node_watch_up") == std::string::npos);
}
