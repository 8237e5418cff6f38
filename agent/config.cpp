#include "agent/config.hpp"

#include "agent/state.hpp"
#include "proto/files.hpp"
#include "proto/https_client.hpp"
#include "proto/json_fields.hpp"
#include "proto/log.hpp"
#include "proto/pki.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace graft::agent {

boot_config boot_config::load(const std::string& path, bool token_required) {
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
        c.coordinators = r.string_list("coordinators");
        for (const auto& url : c.coordinators) {
            try {
                proto::parse_https_url(url);
            } catch (const std::invalid_argument& e) {
                throw proto::validation_error("coordinators", e.what());
            }
        }
        c.ca_pin = r.required_string("ca_pin");
        if (!proto::is_spki_pin(c.ca_pin))
            throw proto::validation_error("ca_pin", "expected sha256:<64 lowercase hex digits>, as `graft-coordinator boot-config` prints");
        if (token_required) {
            c.enrollment_token = r.required_string("enrollment_token");
            if (c.enrollment_token.empty()) throw proto::validation_error("enrollment_token", "is empty");
        } else {
            c.enrollment_token = r.optional_string("enrollment_token").value_or("");
        }
        r.finish();
        return c;
    } catch (const std::exception& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

std::string boot_config::to_json_text() const {
    proto::json j{{"coordinator", coordinator}, {"ca_pin", ca_pin}};
    if (!coordinators.empty()) j["coordinators"] = coordinators;
    if (!enrollment_token.empty()) j["enrollment_token"] = enrollment_token;
    return j.dump(2) + "\n";
}

std::vector<std::string> boot_config::urls() const {
    std::vector<std::string> out{coordinator};
    for (const auto& url : coordinators)
        if (std::find(out.begin(), out.end(), url) == out.end()) out.push_back(url);
    return out;
}

boot_config take_boot_config(const std::string& root, const std::string& explicit_path, const state_store& store) {
    std::string boot_path = explicit_path;
    if (boot_path.empty()) {
        std::string searched;
        for (const char* place : boot_config_places) {
            const std::string candidate = (std::filesystem::path(root) / std::string(place).substr(1)).string();
            if (std::filesystem::exists(candidate)) {
                boot_path = candidate;
                break;
            }
            searched += (searched.empty() ? "" : ", ") + candidate;
        }
        if (boot_path.empty() && !store.has("graft.json"))
            throw std::runtime_error("no graft.json found (looked at " + searched + "): write the one `graft-coordinator "
                                     "boot-config` prints onto the node's boot partition");
        if (boot_path.empty()) return boot_config::load(store.path("graft.json"));
    }

    boot_config boot = boot_config::load(boot_path, /*token_required=*/!store.has("graft.json"));
    if (boot.enrollment_token.empty()) {
        // Taken before: the saved copy has the token; the boot copy must still name the same coordinator.
        boot_config saved = boot_config::load(store.path("graft.json"));
        if (saved.coordinator != boot.coordinator || saved.ca_pin != boot.ca_pin)
            throw std::runtime_error(boot_path + " names " + boot.coordinator + " but has no enrollment_token, and the "
                                     "token saved in " + store.path("graft.json") + " is for " + saved.coordinator +
                                     ": write a complete graft.json from `graft-coordinator boot-config`");
        return saved;
    }
    // Saved first, then stripped: a power cut in between leaves the token in both places, and the next start
    // finishes the move.
    store.prepare();
    store.write("graft.json", boot.to_json_text(), 0600);
    boot_config remainder = boot;
    remainder.enrollment_token.clear();
    proto::write_file_atomic(boot_path, remainder.to_json_text(), 0644);
    proto::log_info("moved the enrollment token from " + boot_path + " to " + store.path("graft.json") +
                    "; the boot partition keeps the coordinator's URL and CA pin");
    return boot;
}

}  // namespace graft::agent
