// The container runtime step: kubelet on a systemd host expects the systemd cgroup driver, and the runtime must
// agree. containerd: SystemdCgroup = true on the runc runtime, at the config's own path (version 2:
// plugins."io.containerd.grpc.v1.cri"; version 3, containerd 2.x: plugins."io.containerd.cri.v1.runtime"), and the CRI
// plugin not disabled (Docker's containerd package ships disabled_plugins = ["cri"]). Docker: exec-opts
// native.cgroupdriver=systemd merged into daemon.json, every other key kept (Jetson's nvidia runtime).
#include "agent/steps/step.hpp"

#include "proto/subprocess.hpp"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <sstream>

namespace graft::agent {
namespace {

constexpr const char* containerd_config = "/etc/containerd/config.toml";
constexpr const char* docker_config = "/etc/docker/daemon.json";

bool installed(const host& h, const char* program) {
    for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"})
        if (h.exists(std::string(dir) + program)) return true;
    return false;
}

// The table at `path` below `root`, made where missing.
toml::table& table_at(toml::table& root, std::initializer_list<const char*> path) {
    toml::table* t = &root;
    for (const char* key : path) {
        if (!t->get_as<toml::table>(key)) t->insert_or_assign(key, toml::table{});
        t = t->get_as<toml::table>(key);
    }
    return *t;
}

// containerd completes a partial configuration with its defaults, so this is a whole working config.
constexpr const char* minimal_containerd = "version = 2\n";

class runtime_step final : public step {
public:
    std::string_view name() const override { return "container-runtime"; }

    step_plan probe(const host& h, const host_profile&) const override {
        step_plan plan(name());
        const bool has_containerd = installed(h, "containerd") || h.exists(containerd_config);
        const bool has_docker = installed(h, "dockerd") || h.exists(docker_config);
        if (!has_containerd && !has_docker) {
            plan.notes.push_back("no container runtime is installed (containerd or docker)");
            return plan;
        }
        if (!h.uses_systemd()) {
            plan.notes.push_back("this node does not boot with systemd, so the runtime keeps the cgroupfs driver");
            return plan;
        }
        if (has_containerd) containerd(h, plan);
        if (plan.blocker.empty() && has_docker) docker(h, plan);
        return plan;
    }

private:
    static void containerd(const host& h, step_plan& plan) {
        const auto before = h.read(containerd_config);
        std::string start = before.value_or("");
        if (!before) {
            // On the running system, containerd's own defaults; in a tree, the minimal file containerd completes.
            proto::process_result defaults;
            if (h.root() == "/") {
                try {
                    defaults = proto::run_process({"containerd", "config", "default"}, std::chrono::seconds(30));
                } catch (const std::exception&) {
                    defaults.exit_code = -1;
                }
            }
            start = defaults.exit_code == 0 ? defaults.output : minimal_containerd;
            plan.notes.push_back(std::string(containerd_config) + " does not exist; starting from " +
                                 (defaults.exit_code == 0 ? "`containerd config default`" : "a minimal version 2 file"));
        }
        toml::table config;
        try {
            config = toml::parse(start, std::string_view(containerd_config));
        } catch (const toml::parse_error& e) {
            std::ostringstream where;
            where << e.source().begin;
            plan.blocker = std::string(containerd_config) + " is not valid TOML (" + std::string(e.description()) + " at " +
                           where.str() + "); fix it by hand, nothing was changed";
            return;
        }
        // No version line means version 1 to containerd 1.x, but a file without a plugins table (Docker's package
        // ships just disabled_plugins = ["cri"]) means the same in every version: call it version 2.
        bool changed = !before;
        auto version = config["version"].value<std::int64_t>();
        if (!version && !config.contains("plugins")) {
            config.insert_or_assign("version", 2);
            version = 2;
            changed = true;
        }
        if (version != 2 && version != 3) {
            plan.blocker = std::string(containerd_config) + " is a version " + std::to_string(version.value_or(1)) +
                           " configuration; migrate it with `containerd config migrate` (nothing was changed)";
            return;
        }
        if (auto* disabled = config["disabled_plugins"].as_array()) {
            const std::string cri_id = *version == 2 ? "cri" : "io.containerd.grpc.v1.cri";
            const auto before_count = disabled->size();
            for (std::size_t i = disabled->size(); i-- > 0;) {
                auto plugin = (*disabled)[i].value<std::string>();
                if (plugin == cri_id || plugin == "cri") disabled->erase(disabled->begin() + static_cast<std::ptrdiff_t>(i));
            }
            if (disabled->size() != before_count) {
                changed = true;
                plan.notes.push_back("containerd's CRI plugin was disabled (as Docker's package ships it); enabling it");
            }
        }
        toml::table& options = *version == 2
            ? table_at(config, {"plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options"})
            : table_at(config, {"plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runc", "options"});
        if (options["SystemdCgroup"].value<bool>() != true) {
            options.insert_or_assign("SystemdCgroup", true);
            changed = true;
        }
        if (!changed) return;
        std::ostringstream out;
        out << config << "\n";
        // toml++ writes the document anew (comments do not survive), so the original is kept beside it.
        plan.edits.push_back(file_edit::write(containerd_config, before, out.str(), true));
        plan.actions.push_back(live_action::restart_unit("containerd.service"));
    }

    static void docker(const host& h, step_plan& plan) {
        const auto before = h.read(docker_config);
        nlohmann::ordered_json config = nlohmann::ordered_json::object();
        if (before && !before->empty()) {
            try {
                config = nlohmann::ordered_json::parse(*before);
            } catch (const nlohmann::json::parse_error& e) {
                plan.blocker = std::string(docker_config) + " is not valid JSON (at byte " + std::to_string(e.byte) +
                               "); fix it by hand, nothing was changed";
                return;
            }
            if (!config.is_object()) {
                plan.blocker = std::string(docker_config) + " is not a JSON object; fix it by hand, nothing was changed";
                return;
            }
        }
        auto& opts = config["exec-opts"];
        if (opts.is_null()) opts = nlohmann::ordered_json::array();
        if (!opts.is_array()) {
            plan.blocker = std::string(docker_config) + ": \"exec-opts\" is not an array; fix it by hand, nothing was changed";
            return;
        }
        constexpr std::string_view driver = "native.cgroupdriver=";
        bool found = false, changed = false;
        for (auto& o : opts) {
            if (!o.is_string() || !o.get<std::string>().starts_with(driver)) continue;
            found = true;
            if (o.get<std::string>() != "native.cgroupdriver=systemd") o = "native.cgroupdriver=systemd", changed = true;
        }
        if (!found) opts.push_back("native.cgroupdriver=systemd"), changed = true;
        if (!changed) return;
        plan.edits.push_back(file_edit::write(docker_config, before, config.dump(4) + "\n", true));
        plan.actions.push_back(live_action::restart_unit("docker.service"));
    }
};

}  // namespace

const step& runtime_step_instance() {
    static const runtime_step s;
    return s;
}

}  // namespace graft::agent
