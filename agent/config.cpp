#include "agent/config.hpp"

#include "proto/files.hpp"
#include "proto/https_client.hpp"
#include "proto/json_fields.hpp"
#include "proto/pki.hpp"

#include <stdexcept>

namespace graft::agent {

boot_config boot_config::load(const std::string& path) {
    try {
        const proto::json document = proto::parse_json(proto::read_file(path));
        proto::object_reader r(document, "");
        boot_config c;
        c.coordinator = r.required_string("coordinator");
        try {
            proto::parse_https_url(c.coordinator);
        } catch (const std::invalid_argument& e) {
            throw proto::validation_error("coordinator", e.what());
        }
        c.ca_pin = r.required_string("ca_pin");
        if (!proto::is_spki_pin(c.ca_pin))
            throw proto::validation_error("ca_pin", "expected sha256:<64 lowercase hex digits>, as `graft-coordinator boot-config` prints");
        c.enrollment_token = r.required_string("enrollment_token");
        if (c.enrollment_token.empty()) throw proto::validation_error("enrollment_token", "is empty");
        r.finish();
        return c;
    } catch (const std::exception& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

}  // namespace graft::agent
