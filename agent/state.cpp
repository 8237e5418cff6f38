#include "agent/state.hpp"

#include "proto/files.hpp"
#include "proto/json_fields.hpp"
#include "proto/time.hpp"

#include <filesystem>

namespace graft::agent {

void agent_state::enter(proto::phase p, std::string message) {
    phase = p;
    history.push_back({std::string(proto::to_string(p)), std::move(message), proto::to_rfc3339(proto::clock::now())});
    // A node that retries a join for days must not grow its state file without bound.
    constexpr std::size_t keep = 100;
    if (history.size() > keep) history.erase(history.begin(), history.end() - keep);
}

state_store::state_store(const std::string& root)
    : dir_((std::filesystem::path(root) / "var/lib/graft").lexically_normal().string()) {}

void state_store::prepare() const {
    std::filesystem::create_directories(dir_);
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all);
}

bool state_store::has(const std::string& file) const { return std::filesystem::exists(path(file)); }
std::string state_store::read(const std::string& file) const { return proto::read_file(path(file)); }
void state_store::write(const std::string& file, const std::string& content, unsigned mode) const {
    proto::write_file_atomic(path(file), content, mode);
}

agent_state state_store::load() const {
    agent_state s;
    if (!has("state.json")) return s;
    const std::string file = path("state.json");
    try {
        const proto::json document = proto::parse_json(proto::read_file(file));
        proto::object_reader r(document, "");
        const std::string phase = r.required_string("phase");
        auto p = proto::phase_from_string(phase);
        if (!p) throw proto::validation_error("phase", "unknown phase '" + phase + "'");
        s.phase = *p;
        s.node_name = r.optional_string("node_name").value_or("");
        s.coordinator = r.optional_string("coordinator").value_or("");
        s.flavour = r.optional_string("flavour").value_or("kubeadm");
        s.last_error = r.optional_string("last_error").value_or("");
        if (auto reboot = r.optional_object("reboot")) {
            s.reboot_boot_id = reboot->required_string("boot_id");
            s.reboot_boot_file = reboot->required_string("boot_file");
            reboot->finish();
        }
        if (const proto::json* h = r.optional_array("history")) {
            for (std::size_t i = 0; i < h->size(); ++i) {
                proto::object_reader e((*h)[i], "history[" + std::to_string(i) + "]");
                s.history.push_back({e.required_string("phase"), e.required_string("message"), e.required_string("at")});
                e.finish();
            }
        }
        r.finish();
    } catch (const std::exception& e) {
        throw std::runtime_error(file + ": " + e.what() + " (move it aside to start this node over)");
    }
    return s;
}

void state_store::save(const agent_state& s) const {
    proto::json history = proto::json::array();
    for (const auto& e : s.history) history.push_back({{"phase", e.phase}, {"message", e.message}, {"at", e.at}});
    proto::json j{{"phase", proto::to_string(s.phase)},
                  {"node_name", s.node_name},
                  {"coordinator", s.coordinator},
                  {"flavour", s.flavour},
                  {"last_error", s.last_error},
                  {"history", history}};
    if (!s.reboot_boot_id.empty()) j["reboot"] = {{"boot_id", s.reboot_boot_id}, {"boot_file", s.reboot_boot_file}};
    write("state.json", j.dump(2) + "\n", 0600);
}

}  // namespace graft::agent
