#include "agent/config.hpp"

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
