// The journal catalog as systemd itself reads it: journalctl builds its catalog database from systemd/graft.catalog
// under a scratch root, and every MESSAGE_ID graft logs must be listed with its subject.
#include "proto/message_ids.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace graft;

TEST_CASE("journalctl reads graft's catalog and finds an entry for every MESSAGE_ID graft logs") {
    test::temp_dir root;
    std::filesystem::create_directories(root / "usr/lib/systemd/catalog");
    std::filesystem::copy_file(std::string(GRAFT_SOURCE_DIR) + "/systemd/graft.catalog", root / "usr/lib/systemd/catalog/graft.catalog");
    auto update = test::run({"journalctl", "--root", root.path().string(), "--update-catalog"});
    INFO(update.output);
    REQUIRE(update.exit_code == 0);
    auto list = test::run({"journalctl", "--root", root.path().string(), "--list-catalog"});
    REQUIRE(list.exit_code == 0);
    for (const char* id : proto::message_id::all) {
        INFO(id);
        CHECK(list.output.find(std::string(id) + " graft: ") != std::string::npos);
    }
    // And no ID declared in the header was left out of `all` (so out of the check above).
    const std::string header = test::read(std::string(GRAFT_SOURCE_DIR) + "/proto/message_ids.hpp");
    const std::regex declared(R"re(= "([0-9a-f]{32})";)re");
    std::size_t count = 0;
    for (auto it = std::sregex_iterator(header.begin(), header.end(), declared); it != std::sregex_iterator(); ++it) {
        ++count;
        INFO((*it)[1].str());
        CHECK(list.output.find((*it)[1].str() + " graft: ") != std::string::npos);
    }
    CHECK(count == std::size(proto::message_id::all));
}
