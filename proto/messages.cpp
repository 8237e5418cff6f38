#include "proto/messages.hpp"

#include "proto/flavours.hpp"
#include "proto/pki.hpp"
#include "proto/time.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <regex>

namespace graft::proto {
namespace {

constexpr std::size_t max_text = 256;
constexpr std::size_t max_list = 64;
constexpr std::size_t max_pem = 16 * 1024;

std::string bounded(object_reader& r, std::string_view key, std::size_t limit = max_text) {
    std::string v = r.required_string(key);
    if (v.size() > limit) throw validation_error(r.path_of(key), "longer than " + std::to_string(limit) + " bytes");
    return v;
}

std::optional<std::string> bounded_optional(object_reader& r, std::string_view key, std::size_t limit = max_text) {
    auto v = r.optional_string(key);
    if (v && v->size() > limit) throw validation_error(r.path_of(key), "longer than " + std::to_string(limit) + " bytes");
    return v;
}

std::vector<std::string> bounded_list(object_reader& r, std::string_view key) {
    auto v = r.string_list(key);
    if (v.size() > max_list) throw validation_error(r.path_of(key), "more than " + std::to_string(max_list) + " entries");
    for (std::size_t i = 0; i < v.size(); ++i)
        if (v[i].size() > max_text)
            throw validation_error(r.path_of(key) + "[" + std::to_string(i) + "]",
                                   "longer than " + std::to_string(max_text) + " bytes");
    return v;
}

bool all_of(std::string_view s, bool (*pred)(char)) {
    for (char c : s)
        if (!pred(c)) return false;
    return true;
}
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_lower_hex(char c) { return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9'); }

std::string pem_field(object_reader& r, std::string_view key, std::string_view label) {
    std::string v = bounded(r, key, max_pem);
    if (v.find("-----BEGIN " + std::string(label) + "-----") == std::string::npos)
        throw validation_error(r.path_of(key), "expected a PEM " + std::string(label));
    return v;
}

}  // namespace

bool is_unit_name(std::string_view name) {
    return !name.empty() && name.size() <= 128 && all_of(name, [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '@';
    });
}

bool is_node_name(std::string_view name) {
    if (name.empty() || name.size() > 63) return false;
    if (!is_lower_alnum(name.front()) || !is_lower_alnum(name.back())) return false;
    return all_of(name, [](char c) { return is_lower_alnum(c) || c == '-'; });
}

bool is_bootstrap_token(std::string_view token) {
    return token.size() == 23 && token[6] == '.' && all_of(token.substr(0, 6), is_lower_alnum) &&
           all_of(token.substr(7), is_lower_alnum);
}

std::string redact_tokens(std::string_view text) {
    static const std::regex token(R"([a-z0-9]{6}\.[a-z0-9]{16})");
    return std::regex_replace(std::string(text), token, "<token>");
}

// --- hardware_facts

json hardware_facts::to_json() const {
    json j{{"machine_id", machine_id}, {"serial", serial},       {"model", model}, {"arch", arch},
           {"hostname", hostname},     {"macs", macs},           {"addresses", addresses},
           {"os", os},                 {"kernel", kernel}};
    if (cgroup_version) j["cgroup_version"] = *cgroup_version;
    if (kubelet_version) j["kubelet_version"] = *kubelet_version;
    if (kubeadm_version) j["kubeadm_version"] = *kubeadm_version;
    if (cloned_from) j["cloned_from"] = *cloned_from;
    if (system_uuid) j["system_uuid"] = *system_uuid;
    return j;
}

hardware_facts hardware_facts::from_json(const json& j, const std::string& path) {
    object_reader r(j, path);
    hardware_facts f;
    f.machine_id = r.required_string("machine_id");
    if (f.machine_id.size() != 32 || !all_of(f.machine_id, is_lower_hex))
        throw validation_error(r.path_of("machine_id"), "expected 32 lowercase hex digits, as in /etc/machine-id");
    f.serial = bounded(r, "serial");
    f.model = bounded(r, "model");
    f.arch = bounded(r, "arch");
    f.hostname = bounded(r, "hostname");
    f.macs = bounded_list(r, "macs");
    f.addresses = bounded_list(r, "addresses");
    f.os = bounded(r, "os");
    f.kernel = bounded(r, "kernel");
    f.cgroup_version = r.optional_integer("cgroup_version");
    if (f.cgroup_version && *f.cgroup_version != 1 && *f.cgroup_version != 2)
        throw validation_error(r.path_of("cgroup_version"), "expected 1 or 2");
    f.kubelet_version = bounded_optional(r, "kubelet_version");
    f.kubeadm_version = bounded_optional(r, "kubeadm_version");
    f.cloned_from = r.optional_string("cloned_from");
    if (f.cloned_from && (f.cloned_from->size() != 32 || !all_of(*f.cloned_from, is_lower_hex)))
        throw validation_error(r.path_of("cloned_from"), "expected 32 lowercase hex digits, as in /etc/machine-id");
    f.system_uuid = bounded_optional(r, "system_uuid", 64);
    r.finish();
    return f;
}

bool same_board(const hardware_facts& a, const hardware_facts& b) {
    if (!a.serial.empty() && !b.serial.empty()) return a.serial == b.serial;
    if (a.macs.empty() || b.macs.empty()) return true;
    for (const auto& mac : a.macs)
        if (std::find(b.macs.begin(), b.macs.end(), mac) != b.macs.end()) return true;
    return false;
}

// --- enroll_request

json enroll_request::to_json() const {
    return {{"protocol_version", protocol_version},
            {"enrollment_token", enrollment_token},
            {"csr", csr_pem},
            {"facts", facts.to_json()}};
}

enroll_request enroll_request::from_json(const json& j) {
    object_reader r(j, "");
    enroll_request req;
    req.protocol_version = r.required_integer("protocol_version");
    req.enrollment_token = r.required_string("enrollment_token");
    if (req.enrollment_token.empty() || req.enrollment_token.size() > 128)
        throw validation_error("enrollment_token", "expected 1 to 128 characters");
    req.csr_pem = pem_field(r, "csr", "CERTIFICATE REQUEST");
    r.required_object("facts");  // present and an object; its own reader checks the fields
    req.facts = hardware_facts::from_json(j.at("facts"), "facts");
    r.finish();
    return req;
}

// --- renew_request, renew_response

json renew_request::to_json() const { return {{"csr", csr_pem}}; }

renew_request renew_request::from_json(const json& j) {
    object_reader r(j, "");
    renew_request req;
    req.csr_pem = pem_field(r, "csr", "CERTIFICATE REQUEST");
    r.finish();
    return req;
}

json renew_response::to_json() const { return {{"certificate", certificate_pem}}; }

renew_response renew_response::from_json(const json& j) {
    object_reader r(j, "");
    renew_response res;
    res.certificate_pem = pem_field(r, "certificate", "CERTIFICATE");
    r.finish();
    return res;
}

// --- node_profile

json node_profile::to_json() const { return {{"flavour", flavour}}; }

node_profile node_profile::from_json(const json& j, const std::string& path) {
    object_reader r(j, path);
    node_profile p;
    p.flavour = r.required_string("flavour");
    if (!flavour_from_string(p.flavour)) throw validation_error(r.path_of("flavour"), "expected " + flavour_names());
    r.finish();
    return p;
}

// --- enroll_response

json enroll_response::to_json() const {
    return {{"protocol_version", protocol_version},
            {"node_name", node_name},
            {"certificate", certificate_pem},
            {"ca_certificate", ca_certificate_pem},
            {"profile", profile.to_json()}};
}

enroll_response enroll_response::from_json(const json& j) {
    object_reader r(j, "");
    enroll_response res;
    res.protocol_version = r.required_integer("protocol_version");
    res.node_name = r.required_string("node_name");
    if (!is_node_name(res.node_name)) throw validation_error("node_name", "not a valid Kubernetes node name");
    res.certificate_pem = pem_field(r, "certificate", "CERTIFICATE");
    res.ca_certificate_pem = pem_field(r, "ca_certificate", "CERTIFICATE");
    r.required_object("profile");
    res.profile = node_profile::from_json(j.at("profile"), "profile");
    r.finish();
    return res;
}

// --- node_report

json step_outcome::to_json() const { return {{"step", step}, {"outcome", outcome}, {"detail", detail}}; }

step_outcome step_outcome::from_json(const json& j, const std::string& path) {
    object_reader r(j, path);
    step_outcome o;
    o.step = bounded(r, "step", 64);
    o.outcome = bounded(r, "outcome", 16);
    static const std::set<std::string, std::less<>> outcomes{"unchanged", "changed", "reboot", "failed", "not-run"};
    if (!outcomes.contains(o.outcome))
        throw validation_error(r.path_of("outcome"), "must be unchanged, changed, reboot, failed or not-run");
    o.detail = bounded_optional(r, "detail", 1024).value_or("");
    r.finish();
    return o;
}

json node_report::to_json() const {
    json j{{"phase", to_string(phase)}, {"message", message}};
    if (address) j["address"] = *address;
    if (!steps.empty()) {
        j["steps"] = json::array();
        for (const auto& s : steps) j["steps"].push_back(s.to_json());
    }
    return j;
}

node_report node_report::from_json(const json& j) {
    object_reader r(j, "");
    node_report rep;
    std::string p = r.required_string("phase");
    auto parsed = phase_from_string(p);
    if (!parsed) throw validation_error("phase", "unknown phase '" + p.substr(0, 64) + "'");
    rep.phase = *parsed;
    rep.message = r.optional_string("message").value_or("");
    if (rep.message.size() > 4096) throw validation_error("message", "longer than 4096 bytes");
    rep.address = bounded_optional(r, "address");
    if (const json* steps = r.optional_array("steps")) {
        if (steps->size() > max_list) throw validation_error("steps", "more than " + std::to_string(max_list) + " entries");
        for (std::size_t i = 0; i < steps->size(); ++i)
            rep.steps.push_back(step_outcome::from_json((*steps)[i], "steps[" + std::to_string(i) + "]"));
    }
    r.finish();
    return rep;
}

// --- journal excerpts

json journal_excerpt::to_json() const {
    return {{"unit", unit}, {"cause", cause}, {"captured_at", captured_at}, {"lines", lines}, {"truncated", truncated}};
}

journal_excerpt journal_excerpt::from_json(const json& j, const std::string& path) {
    object_reader r(j, path);
    journal_excerpt e;
    e.unit = bounded(r, "unit", 128);
    if (!is_unit_name(e.unit)) throw validation_error(r.path_of("unit"), "is not a systemd unit name");
    e.cause = bounded(r, "cause", 256);
    e.captured_at = bounded(r, "captured_at", 64);
    if (!from_rfc3339(e.captured_at)) throw validation_error(r.path_of("captured_at"), "is not an RFC 3339 time");
    e.lines = r.string_list("lines");
    if (e.lines.size() > max_journal_lines)
        throw validation_error(r.path_of("lines"), "more than " + std::to_string(max_journal_lines) + " lines");
    for (std::size_t i = 0; i < e.lines.size(); ++i)
        if (e.lines[i].size() > max_journal_line)
            throw validation_error(r.path_of("lines") + "[" + std::to_string(i) + "]",
                                   "longer than " + std::to_string(max_journal_line) + " bytes");
    if (auto t = r.optional_bool("truncated")) e.truncated = *t;
    r.finish();
    return e;
}

json journal_upload::to_json() const {
    json j{{"excerpts", json::array()}};
    for (const auto& e : excerpts) j["excerpts"].push_back(e.to_json());
    if (!request_id.empty()) j["request_id"] = request_id;
    return j;
}

journal_upload journal_upload::from_json(const json& j) {
    object_reader r(j, "");
    journal_upload u;
    const json* list = r.optional_array("excerpts");
    if (!list || list->empty()) throw validation_error("excerpts", "is required and holds at least one excerpt");
    if (list->size() > 8) throw validation_error("excerpts", "more than 8 entries");
    for (std::size_t i = 0; i < list->size(); ++i)
        u.excerpts.push_back(journal_excerpt::from_json((*list)[i], "excerpts[" + std::to_string(i) + "]"));
    u.request_id = bounded_optional(r, "request_id", 64).value_or("");
    r.finish();
    return u;
}

// --- join_request

json join_request::to_json() const {
    json j = json::object();
    if (kubelet_version) j["kubelet_version"] = *kubelet_version;
    if (kubeadm_version) j["kubeadm_version"] = *kubeadm_version;
    return j;
}

join_request join_request::from_json(const json& j) {
    object_reader r(j, "");
    join_request req;
    req.kubelet_version = bounded_optional(r, "kubelet_version");
    req.kubeadm_version = bounded_optional(r, "kubeadm_version");
    r.finish();
    return req;
}

// --- join_spec

json join_spec::to_json() const {
    return {{"node_name", node_name},
            {"flavour", flavour},
            {"api_server_endpoint", api_server_endpoint},
            {"token", token},
            {"ca_cert_hashes", ca_cert_hashes},
            {"expires_at", expires_at}};
}

join_spec join_spec::from_json(const json& j) {
    object_reader r(j, "");
    join_spec s;
    s.node_name = r.required_string("node_name");
    if (!is_node_name(s.node_name)) throw validation_error("node_name", "not a valid Kubernetes node name");
    s.flavour = r.required_string("flavour");
    const auto flavour = flavour_from_string(s.flavour);
    if (!flavour) throw validation_error("flavour", "expected " + flavour_names());
    const flavour_traits& kind = traits(*flavour);
    s.api_server_endpoint = bounded(r, "api_server_endpoint");
    if (s.api_server_endpoint.empty()) throw validation_error("api_server_endpoint", "is empty");
    s.token = r.required_string("token");
    if (s.token.size() > 16 * 1024) throw validation_error("token", "is longer than 16 KiB");
    if (!kind.token_valid(s.token)) throw validation_error("token", "not " + std::string(kind.token_form));
    s.ca_cert_hashes = bounded_list(r, "ca_cert_hashes");
    if (kind.pins_cluster_ca && s.ca_cert_hashes.empty())
        throw validation_error("ca_cert_hashes", "needs at least one sha256:<hex> pin");
    for (std::size_t i = 0; i < s.ca_cert_hashes.size(); ++i)
        if (!is_spki_pin(s.ca_cert_hashes[i]))
            throw validation_error("ca_cert_hashes[" + std::to_string(i) + "]", "expected sha256:<64 hex digits>");
    s.expires_at = r.optional_string("expires_at").value_or("");
    if (!s.expires_at.empty() && !from_rfc3339(s.expires_at))
        throw validation_error("expires_at", "expected an RFC 3339 UTC time such as 2026-01-02T03:04:05Z");
    r.finish();
    return s;
}

std::string join_spec::display_command() const {
    return display_join_command(flavour_from_string(flavour).value_or(proto::flavour::kubeadm), api_server_endpoint,
                                token, ca_cert_hashes);
}

// --- node_status

json node_status::to_json() const {
    return {{"name", name},     {"phase", phase},   {"reason", reason},
            {"address", address}, {"model", model}, {"arch", arch},
            {"enrolled_at", enrolled_at}, {"updated_at", updated_at},
            {"join_command", join_command}, {"join_issued_at", join_issued_at},
            {"readiness_tracked", readiness_tracked}, {"conflict", conflict}, {"readiness", readiness},
            {"last_seen", last_seen}};
}

node_status node_status::from_json(const json& j) {
    object_reader r(j, "");
    node_status s;
    s.name = r.required_string("name");
    s.phase = r.required_string("phase");
    s.reason = r.required_string("reason");
    s.address = r.required_string("address");
    s.model = r.required_string("model");
    s.arch = r.required_string("arch");
    s.enrolled_at = r.required_string("enrolled_at");
    s.updated_at = r.required_string("updated_at");
    s.join_command = r.required_string("join_command");
    s.join_issued_at = r.required_string("join_issued_at");
    s.readiness_tracked = r.required_bool("readiness_tracked");
    s.conflict = r.optional_string("conflict").value_or("");
    s.readiness = r.optional_string("readiness").value_or("");
    s.last_seen = r.optional_string("last_seen").value_or("");
    r.finish();
    return s;
}

// --- error_body

json error_body::to_json() const { return {{"error", {{"code", code}, {"message", message}}}}; }

error_body error_body::from_json(const json& j) {
    object_reader outer(j, "");
    object_reader r = outer.required_object("error");
    error_body e;
    e.code = r.required_string("code");
    e.message = r.required_string("message");
    r.finish();
    outer.finish();
    return e;
}

}  // namespace graft::proto
