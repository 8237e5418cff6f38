// Fuzz target: every wire message graft reads from outside, through the same strict parser the coordinator and the
// agent use. A validation_error is the right answer to bad input; anything else escaping, a crash, a leak or
// undefined behaviour is a finding.
#include "proto/messages.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace graft::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    json j;
    try {
        j = parse_json(text);
    } catch (const validation_error&) {
        return 0;
    }
    auto attempt = [&](auto parse) {
        try {
            auto message = parse(j);
            (void)message.to_json().dump();  // what was accepted can be written back
        } catch (const validation_error&) {
        }
    };
    attempt([](const json& v) { return enroll_request::from_json(v); });
    attempt([](const json& v) { return enroll_response::from_json(v); });
    attempt([](const json& v) { return node_report::from_json(v); });
    attempt([](const json& v) { return join_request::from_json(v); });
    attempt([](const json& v) { return join_spec::from_json(v); });
    attempt([](const json& v) { return renew_request::from_json(v); });
    attempt([](const json& v) { return renew_response::from_json(v); });
    attempt([](const json& v) { return node_status::from_json(v); });
    attempt([](const json& v) { return error_body::from_json(v); });
    attempt([](const json& v) { return hardware_facts::from_json(v); });
    return 0;
}
