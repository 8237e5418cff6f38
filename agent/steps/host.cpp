#include "agent/steps/step.hpp"

#include "proto/files.hpp"
#include "proto/json_fields.hpp"

#include <algorithm>
#include <filesystem>

namespace graft::agent {

namespace fs = std::filesystem;

host::host(std::string root) : root_(fs::path(root).lexically_normal().string()) {}

bool host::is_running_system() const { return fs::weakly_canonical(root_) == "/"; }

std::string host::path(std::string_view node_path) const {
    std::string_view rel = node_path;
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    return (fs::path(root_) / rel).string();
}

bool host::exists(std::string_view node_path) const {
    std::error_code ec;
    return fs::exists(fs::symlink_status(path(node_path), ec)) && !ec;
}

std::optional<std::string> host::read(std::string_view node_path) const {
    std::error_code ec;
    if (!fs::exists(path(node_path), ec)) return std::nullopt;
    return proto::read_file(path(node_path));
}

std::vector<std::string> host::list(std::string_view node_dir) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(path(node_dir), ec)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

host_profile host_profile::load(const std::string& path) {
    try {
        const proto::json doc = proto::parse_json(proto::read_file(path));
        proto::object_reader r(doc, "");
        host_profile p;
        p.node_name = r.optional_string("node_name").value_or("");
        p.swap = r.optional_string("swap").value_or("off");
        if (p.swap != "off" && p.swap != "allow") throw proto::validation_error("swap", "expected \"off\" or \"allow\"");
        p.coordinator = r.optional_string("coordinator").value_or("");
        p.node_cidr = r.optional_string("node_cidr").value_or("");
        r.finish();
        return p;
    } catch (const std::exception& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

}  // namespace graft::agent
