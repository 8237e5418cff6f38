#include "proto/cli.hpp"

#include <catch2/catch.hpp>

using namespace graft::proto;

TEST_CASE("flags read with a space or an equals sign") {
    cli_args a({"--config", "a.json", "--root=/tmp/x", "--json"}, {"config", "root"}, {"json"});
    CHECK(a.required("config") == "a.json");
    CHECK(a.value("root") == "/tmp/x");
    CHECK(a.has("json"));
    CHECK_FALSE(a.value("other").has_value());
}

TEST_CASE("command-line mistakes name the flag") {
    CHECK_THROWS_WITH(cli_args({"--confg", "x"}, {"config"}, {}), "unknown option --confg");
    CHECK_THROWS_WITH(cli_args({"--config"}, {"config"}, {}), "--config needs a value");
    CHECK_THROWS_WITH(cli_args({"--config", "a", "--config", "b"}, {"config"}, {}), "--config is given twice");
    CHECK_THROWS_WITH(cli_args({"stray"}, {"config"}, {}), "unexpected argument 'stray'");
    CHECK_THROWS_WITH(cli_args({}, {"config"}, {}).required("config"), "--config is required");
    CHECK_THROWS_WITH(cli_args({"--n", "x"}, {"n"}, {}).number("n", 1, 1, 10),
                      "--n must be a whole number from 1 to 10, got 'x'");
}
