#pragma once
// The coordinator's HTTP API as the integration tests drive it: curl as the client, a node's key and certificate
// kept in files, an operator's identity for reads.

#include "proto/messages.hpp"
#include "proto/pki.hpp"
#include "support/support.hpp"

#include <string>
#include <vector>

namespace graft::test::api {

std::string token_of(const std::string& boot_json);
std::string enroll_body(const std::string& token, EVP_PKEY& key, const std::string& csr_name = "raspberrypi",
                        const std::string& machine_id = random_machine_id());
// POSTs a JSON body with curl, trusting the coordinator's CA; `extra` adds client-certificate flags.
curl_result post(coordinator_process& c, const std::string& path, const std::string& body,
                 std::vector<std::string> extra = {});
// A read of the fleet, as an operator makes it.
curl_result get(const coordinator_process& c, const std::string& path);

struct enrolled_node {
    std::string name, key_path, cert_path;
    std::vector<std::string> curl_identity() const { return {"--cert", cert_path, "--key", key_path}; }
};

// Enrolls a node through the real API with curl and keeps its key and certificate in files (NAME-N.key/.crt for
// its Nth enrollment). `boot_json`: another graft.json than the coordinator's first.
enrolled_node enroll(coordinator_process& c, const std::string& csr_name = "raspberrypi",
                     const std::string& machine_id = random_machine_id(), const std::string& boot_json = {});

std::string error_code(const curl_result& r);
std::string error_message(const curl_result& r);

}  // namespace graft::test::api
