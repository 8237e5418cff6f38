#include "proto/files.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;
using test::temp_dir;

TEST_CASE("an atomic write leaves the new content with the mode asked for, from the start") {
    temp_dir dir;
    proto::write_file_atomic(dir / "node.key", "secret", 0600);
    CHECK(test::read(dir / "node.key") == "secret");
    CHECK(test::file_mode(dir / "node.key") == 0600);
    proto::write_file_atomic(dir / "node.key", "newer", 0600);
    CHECK(test::read(dir / "node.key") == "newer");
    // No temporary file is left beside it.
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("a write that cannot happen names the file and leaves the old one alone") {
    temp_dir dir;
    proto::write_file_atomic(dir / "state.json", "old", 0644);
    CHECK_THROWS_WITH(proto::write_file_atomic(dir / "missing/state.json", "new", 0644),
                      Catch::Contains(dir / "missing/state.json"));
    CHECK(test::read(dir / "state.json") == "old");
}

TEST_CASE("reading a missing file names it") {
    CHECK_THROWS_WITH(proto::read_file("/nonexistent/graft.json"), Catch::Contains("/nonexistent/graft.json"));
}
