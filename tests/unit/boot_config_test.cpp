#include "agent/config.hpp"
#include "agent/state.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;

namespace {
const std::string pin = "sha256:" + std::string(64, 'c');

std::string load_error(const std::string& text) {
    test::temp_dir dir;
    test::write(dir / "graft.json", text);
    try {
        agent::boot_config::load(dir / "graft.json");
    } catch (const std::exception& e) {
        CHECK_THAT(e.what(), Catch::StartsWith(dir / "graft.json"));
        return e.what();
    }
    return "(accepted)";
}
}  // namespace

TEST_CASE("graft.json from boot-config loads") {
    CHECK(load_error(R"({"coordinator": "https://192.168.1.10:8443", "ca_pin": ")" + pin +
                     R"(", "enrollment_token": "abcd1234.secret"})") == "(accepted)");
}

TEST_CASE("a bad graft.json is refused with the file and the field named") {
    CHECK_THAT(load_error(R"({"coordinator": "http://192.168.1.10:8443", "ca_pin": ")" + pin + R"(", "enrollment_token": "t"})"),
               Catch::Contains("field 'coordinator'") && Catch::Contains("https://"));
    CHECK_THAT(load_error(R"({"coordinator": "https://c:1", "ca_pin": "sha256:XYZ", "enrollment_token": "t"})"),
               Catch::Contains("field 'ca_pin'"));
    CHECK_THAT(load_error(R"({"coordinator": "https://c:1", "ca_pin": ")" + pin + R"("})"),
               Catch::Contains("field 'enrollment_token': is required"));
    CHECK_THAT(load_error(R"({"coordinator": "https://c:1", "ca_pin": ")" + pin + R"(", "enrollment_token": "t", "insecure": true})"),
               Catch::Contains("field 'insecure': is not a known field"));
    CHECK_THAT(load_error("{\"coordinator\": "), Catch::Contains("malformed JSON"));
}

TEST_CASE("a missing graft.json is named") {
    CHECK_THROWS_WITH(agent::boot_config::load("/nonexistent/boot/graft.json"), Catch::Contains("/nonexistent/boot/graft.json"));
}

namespace {

const std::string complete = R"({"coordinator": "https://192.168.1.10:8443", "ca_pin": ")" + pin +
                             R"(", "enrollment_token": "abcd1234.s3cret"})";

}  // namespace

TEST_CASE("the agent finds graft.json on the boot partition, keeps the token in its state and strips it from the FAT copy") {
    for (const std::string place : {"boot/firmware", "boot", "media/mmcblk0p1"}) {
        test::temp_dir root;
        test::write(root / (place + "/graft.json"), complete);
        agent::state_store store(root.path().string());
        auto c = agent::take_boot_config(root.path().string(), "", store);
        CHECK(c.enrollment_token == "abcd1234.s3cret");
        CHECK(c.coordinator == "https://192.168.1.10:8443");
        // The saved copy is the whole file, 0600 in a 0700 directory.
        CHECK(test::file_mode(root / "var/lib/graft/graft.json") == 0600);
        CHECK(test::file_mode(root / "var/lib/graft") == 0700);
        CHECK(agent::boot_config::load(root / "var/lib/graft/graft.json").enrollment_token == "abcd1234.s3cret");
        // The boot copy keeps what the operator may want to read, and no secret.
        const std::string left = test::read(root / (place + "/graft.json"));
        CHECK(left.find("s3cret") == std::string::npos);
        CHECK(left.find("https://192.168.1.10:8443") != std::string::npos);
        CHECK(left.find(pin) != std::string::npos);
        // The next boot finds the remainder and uses the saved token.
        CHECK(agent::take_boot_config(root.path().string(), "", store).enrollment_token == "abcd1234.s3cret");
    }
}

TEST_CASE("a fresh graft.json on the boot partition replaces the saved one") {
    test::temp_dir root;
    agent::state_store store(root.path().string());
    test::write(root / "boot/firmware/graft.json", complete);
    agent::take_boot_config(root.path().string(), "", store);
    std::string fresh = complete;
    fresh.replace(fresh.find("abcd1234.s3cret"), 15, "efgh5678.n3wone");
    test::write(root / "boot/firmware/graft.json", fresh);
    CHECK(agent::take_boot_config(root.path().string(), "", store).enrollment_token == "efgh5678.n3wone");
    CHECK(test::read(root / "boot/firmware/graft.json").find("n3wone") == std::string::npos);
}

TEST_CASE("a bad or missing graft.json is refused naming the file, the field or the places looked at, and nothing moves") {
    test::temp_dir root;
    agent::state_store store(root.path().string());
    CHECK_THROWS_WITH(agent::take_boot_config(root.path().string(), "", store),
                      Catch::Contains(root / "boot/firmware/graft.json") && Catch::Contains(root / "media/mmcblk0p1/graft.json") &&
                          Catch::Contains("boot-config"));
    const std::string bad = R"({"coordinator": "https://c:1", "ca_pin": "sha256:XYZ", "enrollment_token": "abcd1234.s3cret"})";
    test::write(root / "boot/firmware/graft.json", bad);
    CHECK_THROWS_WITH(agent::take_boot_config(root.path().string(), "", store),
                      Catch::Contains(root / "boot/firmware/graft.json") && Catch::Contains("field 'ca_pin'"));
    CHECK(test::read(root / "boot/firmware/graft.json") == bad);  // untouched: the token stays until it can be used
    CHECK_FALSE(store.has("graft.json"));

    // A stripped copy that names another coordinator than the saved token is for.
    test::write(root / "boot/firmware/graft.json", complete);
    agent::take_boot_config(root.path().string(), "", store);
    test::write(root / "boot/firmware/graft.json",
                R"({"coordinator": "https://10.9.9.9:8443", "ca_pin": ")" + pin + R"("})");
    CHECK_THROWS_WITH(agent::take_boot_config(root.path().string(), "", store),
                      Catch::Contains("has no enrollment_token") && Catch::Contains("https://192.168.1.10:8443"));
}
