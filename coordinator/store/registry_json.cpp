#include "coordinator/store/registry_json.hpp"

#include <cstdio>

namespace graft::coordinator {

namespace {

using json = nlohmann::json;

json optional_number(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

std::optional<std::int64_t> read_optional(const json& j, const char* field) {
    auto it = j.find(field);
    if (it == j.end() || it->is_null()) return std::nullopt;
    return it->get<std::int64_t>();
}

}  // namespace

std::string node_text(const stored_node& s) {
    const auto& n = s.node;
    return json{{"name", n.name}, {"machine_id", n.machine_id}, {"serial", n.serial}, {"model", n.model},
                {"arch", n.arch}, {"address", n.address}, {"facts", n.facts_json}, {"phase", n.phase},
                {"reason", n.reason}, {"certificate_serial", n.certificate_serial}, {"enrolled_at", n.enrolled_at},
                {"updated_at", n.updated_at}, {"join_command", n.join_command},
                {"join_issued_at", optional_number(n.join_issued_at)}, {"join_expires_at", optional_number(n.join_expires_at)},
                {"join_credential", n.join_credential}, {"key_pin", n.key_pin}, {"conflict", n.conflict},
                {"conflict_key_pin", n.conflict_key_pin}, {"replace_key_pin", n.replace_key_pin},
                {"pending_serial", n.pending_serial}, {"readiness", n.readiness}, {"steps", n.steps_json},
                {"certificate_pem", s.certificate_pem}, {"pending_certificate_pem", s.pending_certificate_pem},
                {"enrollment_token", s.enrollment_token}, {"history", s.history}, {"journal_seq", s.journal_seq}}
        .dump();
}

stored_node node_from(const std::string& text) {
    const auto j = json::parse(text);
    stored_node s;
    auto& n = s.node;
    n.name = j.at("name");
    n.machine_id = j.at("machine_id");
    n.serial = j.at("serial");
    n.model = j.at("model");
    n.arch = j.at("arch");
    n.address = j.at("address");
    n.facts_json = j.at("facts");
    n.phase = j.at("phase");
    n.reason = j.at("reason");
    n.certificate_serial = j.at("certificate_serial");
    n.enrolled_at = j.at("enrolled_at");
    n.updated_at = j.at("updated_at");
    n.join_command = j.at("join_command");
    n.join_issued_at = read_optional(j, "join_issued_at");
    n.join_expires_at = read_optional(j, "join_expires_at");
    n.join_credential = j.at("join_credential");
    n.key_pin = j.at("key_pin");
    n.conflict = j.at("conflict");
    n.conflict_key_pin = j.at("conflict_key_pin");
    n.replace_key_pin = j.at("replace_key_pin");
    n.pending_serial = j.at("pending_serial");
    n.readiness = j.at("readiness");
    n.steps_json = j.at("steps");
    s.certificate_pem = j.at("certificate_pem");
    s.pending_certificate_pem = j.at("pending_certificate_pem");
    s.enrollment_token = j.at("enrollment_token");
    s.history = j.at("history");
    s.journal_seq = j.at("journal_seq");
    return s;
}

std::string token_text(const stored_token& t) {
    return json{{"id", t.id}, {"secret_sha256", t.secret_sha256}, {"expires_at", t.expires_at},
                {"uses_left", optional_number(t.uses_left)}, {"created_at", t.created_at},
                {"approval", t.approval == approval_mode::required ? "required" : "auto"}, {"allow", t.allow},
                {"revoked_at", optional_number(t.revoked_at)}, {"used", t.used}}
        .dump();
}

stored_token token_from(const std::string& text) {
    const auto j = json::parse(text);
    stored_token t;
    t.id = j.at("id");
    t.secret_sha256 = j.at("secret_sha256");
    t.expires_at = j.at("expires_at");
    t.uses_left = read_optional(j, "uses_left");
    t.created_at = j.at("created_at");
    t.approval = j.at("approval") == "required" ? approval_mode::required : approval_mode::automatic;
    t.allow = j.at("allow").get<std::vector<std::string>>();
    t.revoked_at = read_optional(j, "revoked_at");
    t.used = j.at("used");
    return t;
}

void add_history(stored_node& s, std::string_view phase, std::string_view reason, std::int64_t at) {
    s.history.push_back(json::array({phase, reason, at}));
    if (s.history.size() > history_kept) s.history.erase(s.history.begin());
}

std::string etcd_layout::journal(const std::string& name, std::int64_t seq) const {
    char digits[24];
    std::snprintf(digits, sizeof digits, "%016lld", static_cast<long long>(seq));
    return journal(name) + digits;
}

}  // namespace graft::coordinator
