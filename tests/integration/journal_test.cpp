// graft's journal entries as the real systemd-journald stores them. journald runs in a private mount namespace
// (unshare -m) with its socket directory, /var/log and /run/log bound to the test's own directories, so the host's journal is
// not touched; journalctl reads what it stored. This is the native protocol that proto/systemd.cpp writes without
// libsystemd (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/).
#include "proto/json_fields.hpp"
#include "proto/systemd.hpp"

#include "support/journald.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <thread>

using namespace graft;

namespace {

}  // namespace

TEST_CASE("journald stores an entry with graft's fields as sent") {
    test::private_journald journal;
    if (!journal.start()) return;
    REQUIRE(proto::journal_send({"MESSAGE=enrolled as node-7", "PRIORITY=6", "SYSLOG_IDENTIFIER=graft-agent",
                                 "MESSAGE_ID=4f2b1c0e8a7d4e3b9c6a5d4e3f2a1b0c", "GRAFT_NODE=node-7", "GRAFT_TEST=fields"},
                                journal.socket));
    auto entries = journal.entries("fields", 1);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0]["MESSAGE"] == "enrolled as node-7");
    CHECK(entries[0]["PRIORITY"] == "6");
    CHECK(entries[0]["SYSLOG_IDENTIFIER"] == "graft-agent");
    CHECK(entries[0]["MESSAGE_ID"] == "4f2b1c0e8a7d4e3b9c6a5d4e3f2a1b0c");
    CHECK(entries[0]["GRAFT_NODE"] == "node-7");
}

TEST_CASE("a value with newlines reaches the journal whole, in the protocol's length-prefixed form") {
    test::private_journald journal;
    if (!journal.start()) return;
    const std::string excerpt = "kubelet: line one\nkubelet: line two\n\nlast=line";
    REQUIRE(proto::journal_send({"MESSAGE=" + excerpt, "GRAFT_TEST=multiline"}, journal.socket));
    auto entries = journal.entries("multiline", 1);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0]["MESSAGE"] == excerpt);
}

TEST_CASE("an entry too large for one datagram goes through a sealed memfd and is stored whole") {
    test::private_journald journal;
    if (!journal.start()) return;
    std::string big;
    for (int i = 0; big.size() < 1'000'000; ++i) big += "journal excerpt line " + std::to_string(i) + " ";
    REQUIRE(proto::journal_send({"MESSAGE=" + big, "GRAFT_TEST=large"}, journal.socket));
    auto entries = journal.entries("large", 1);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0]["MESSAGE"].get<std::string>() == big);
}

TEST_CASE("with no journald at the socket, sending says so instead of blocking") {
    test::temp_dir dir;
    CHECK_FALSE(proto::journal_send({"MESSAGE=nobody listens", "GRAFT_TEST=none"}, dir / "socket"));
    CHECK_FALSE(proto::journal_send({"MESSAGE=not a socket path"}, "relative/socket"));
}
