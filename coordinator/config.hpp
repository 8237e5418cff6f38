#pragma once
// The coordinator's config file (config.json in its state directory), written by `init` and read by every
// other command. Loading is strict: an unknown or mistyped field is an error naming the file and the field.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace graft::coordinator {

class join_backend;

struct join_config {
    std::string backend = "static";  // static | command
    // static
    std::string api_server_endpoint;
    std::string token;
    std::vector<std::string> ca_cert_hashes;
    // command
    std::vector<std::string> command;
    std::chrono::seconds command_timeout{30};
};

struct coordinator_config {
    std::string state_dir;
    std::string listen;     // HOST:PORT the server binds
    std::string advertise;  // HOST:PORT nodes dial; the server certificate names HOST
    std::string node_name_prefix = "node";
    std::chrono::hours certificate_lifetime{24 * 30};
    join_config join;

    static coordinator_config load(const std::string& path);
    std::string to_json_text() const;

    std::string database_path() const { return state_dir + "/registry.db"; }
    std::string advertise_url() const { return "https://" + advertise; }
};

std::unique_ptr<join_backend> make_join_backend(const join_config& config);

// Splits HOST:PORT (IPv6 in brackets); throws std::invalid_argument naming `what`.
std::pair<std::string, std::string> split_host_port(const std::string& text, const std::string& what);

}  // namespace graft::coordinator
