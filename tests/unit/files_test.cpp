#include "proto/files.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

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

TEST_CASE("a writer stopped dead at any write point leaves the old file or the new one, never a mix") {
    using proto::write_point;
    const std::string old_content(64 * 1024, 'o'), new_content(80 * 1024, 'n');
    for (auto stop_at : {write_point::temp_created, write_point::content_written, write_point::content_synced,
                         write_point::renamed, write_point::directory_synced}) {
        test::temp_dir dir;
        const std::string target = dir / "cmdline.txt";
        proto::write_file_atomic(target, old_content, 0644);
        // The child stops the way a power cut stops it: _exit at that point, no unwinding, no cleanup.
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            proto::write_file_atomic(target, new_content, 0644, [&](write_point p) {
                if (p == stop_at) ::_exit(0);
            });
            ::_exit(1);
        }
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
        const std::string now = test::read(target);
        const bool before_rename = stop_at < write_point::renamed;
        INFO("stopped at point " << static_cast<int>(stop_at));
        CHECK(now == (before_rename ? old_content : new_content));
        CHECK(test::file_mode(target) == 0644);
    }
}
