#include "agent/runner.hpp"
#include "agent/state.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;

TEST_CASE("agent state lives under ROOT/var/lib/graft and round-trips") {
    test::temp_dir root;
    agent::state_store store(root.path().string());
    store.prepare();
    CHECK(store.dir() == root / "var/lib/graft");
    CHECK(test::file_mode(store.dir()) == 0700);

    agent::agent_state s;
    s.node_name = "node-2";
    s.coordinator = "https://127.0.0.1:8443";
    s.enter(proto::phase::enrolled);
    s.enter(proto::phase::failed, "kubeadm exited with status 1");
    store.save(s);
    CHECK(test::file_mode(store.path("state.json")) == 0600);

    auto back = store.load();
    CHECK(back.phase == proto::phase::failed);
    CHECK(back.node_name == "node-2");
    REQUIRE(back.history.size() == 2);
    CHECK(back.history[1].message == "kubeadm exited with status 1");
}

TEST_CASE("a fresh node starts in booted") {
    test::temp_dir root;
    CHECK(agent::state_store(root.path().string()).load().phase == proto::phase::booted);
}

TEST_CASE("a damaged state.json is an error naming it and what to do, and is left as it was") {
    test::temp_dir root;
    agent::state_store store(root.path().string());
    store.prepare();
    test::write(store.path("state.json"), "{\"phase\": \"enroled\"}");
    CHECK_THROWS_WITH(store.load(), Catch::Contains(store.path("state.json")) && Catch::Contains("unknown phase 'enroled'") &&
                                        Catch::Contains("move it aside"));
    CHECK(test::read(store.path("state.json")) == "{\"phase\": \"enroled\"}");
}

TEST_CASE("the history keeps the last hundred events") {
    agent::agent_state s;
    for (int i = 0; i < 150; ++i) s.enter(proto::phase::failed, std::to_string(i));
    CHECK(s.history.size() == 100);
    CHECK(s.history.front().message == "50");
}

TEST_CASE("a certificate is due for renewal past two thirds of its life, brought forward by at most a tenth by jitter") {
    using namespace std::chrono;
    const system_clock::time_point start{seconds(1'800'000'000)};
    const auto end = start + hours(24 * 30);  // the coordinator's default lifetime
    CHECK_FALSE(agent::renewal_due(start, end, start + hours(24 * 19), 0.0));
    CHECK_FALSE(agent::renewal_due(start, end, start + hours(24 * 20) - seconds(1), 0.0));
    CHECK(agent::renewal_due(start, end, start + hours(24 * 20), 0.0));
    // Full jitter brings it forward by three days, and no further.
    CHECK(agent::renewal_due(start, end, start + hours(24 * 17), 1.0));
    CHECK_FALSE(agent::renewal_due(start, end, start + hours(24 * 17) - seconds(1), 1.0));
    CHECK(agent::renewal_due(start, end, end + hours(1), 0.5));  // an expired one, too
}
