#pragma once
// graft.json: what the operator puts on a node's boot partition, made by `graft-coordinator boot-config`.

#include <string>

namespace graft::agent {

struct boot_config {
    std::string coordinator;       // https://HOST:PORT
    std::string ca_pin;            // sha256:<hex> of the coordinator CA's SubjectPublicKeyInfo
    std::string enrollment_token;  // a secret: never logged

    // Strict: a missing, unknown or mistyped field is an error naming the file and the field.
    static boot_config load(const std::string& path);
};

}  // namespace graft::agent
