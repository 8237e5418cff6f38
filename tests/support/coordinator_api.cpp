#include "support/coordinator_api.hpp"

#include <atomic>
#include <filesystem>

namespace graft::test::api {

std::string token_of(const std::string& boot_json) { return proto::parse_json(boot_json).at("enrollment_token"); }

std::string enroll_body(const std::string& token, EVP_PKEY& key, const std::string& csr_name,
                        const std::string& machine_id) {
    proto::enroll_request r;
    r.protocol_version = 1;
    r.enrollment_token = token;
    r.csr_pem = proto::make_csr_pem(key, csr_name);
    r.facts.machine_id = machine_id;
    r.facts.arch = "x86_64";
    r.facts.model = "integration test";
    return r.to_json().dump();
}

curl_result post(coordinator_process& c, const std::string& path, const std::string& body,
                 std::vector<std::string> extra) {
    // A file of its own for each call, so tests may post from several threads at once.
    static std::atomic<unsigned> calls = 0;
    const std::string file = c.dir() / ("body-" + std::to_string(++calls) + ".json");
    write(file, body);
    std::vector<std::string> args{"--cacert", c.ca_path(), "-X", "POST", "-H", "Content-Type: application/json",
                                  "--data-binary", "@" + file};
    args.insert(args.end(), extra.begin(), extra.end());
    auto result = curl(c.url() + path, args);
    std::filesystem::remove(file);
    return result;
}

curl_result get(const coordinator_process& c, const std::string& path) {
    auto args = c.operator_identity();
    args.insert(args.begin(), {"--cacert", c.ca_path()});
    return curl(c.url() + path, args);
}

enrolled_node enroll(coordinator_process& c, const std::string& csr_name, const std::string& machine_id,
                     const std::string& boot_json) {
    auto key = proto::generate_p256_key();
    auto res = post(c, "/v1/enroll", enroll_body(token_of(boot_json.empty() ? c.boot_json() : boot_json), *key, csr_name,
                                                 machine_id));
    if (res.status != 200 && res.status != 202)
        throw std::runtime_error("enrollment answered " + std::to_string(res.status) + ": " + res.body);
    if (res.status == 202) return {proto::parse_json(res.body).at("name"), "", ""};  // waiting for approval
    auto body = proto::enroll_response::from_json(proto::parse_json(res.body));
    std::string stem = body.node_name;
    for (int i = 2; std::filesystem::exists(c.dir() / (stem + ".crt")); ++i) stem = body.node_name + "-" + std::to_string(i);
    enrolled_node n{body.node_name, c.dir() / (stem + ".key"), c.dir() / (stem + ".crt")};
    write(n.key_path, proto::private_key_pem(*key));
    write(n.cert_path, body.certificate_pem);
    return n;
}

std::string error_code(const curl_result& r) {
    return proto::error_body::from_json(proto::parse_json(r.body)).code;
}
std::string error_message(const curl_result& r) {
    return proto::error_body::from_json(proto::parse_json(r.body)).message;
}

}  // namespace graft::test::api
