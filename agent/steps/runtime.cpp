// The container runtime step: kubelet on a systemd host expects the systemd cgroup driver, and the runtime must
// agree. containerd: SystemdCgroup = true on the CRI plugin's default runtime, whatever it is named (runc, or nvidia
// on GPU nodes), at the config's own path (version 2: plugins."io.containerd.grpc.v1.cri"; version 3, containerd
// 2.x: plugins."io.containerd.cri.v1.runtime"), and the CRI plugin not disabled (Docker's containerd package ships
// disabled_plugins = ["cri"]). containerd decodes `runtimes` into a fresh map, so a runtime table it is given
// replaces the default one whole: every table graft touches keeps or gains its runtime_type. The file is edited in
// place, comments and all. Docker: exec-opts native.cgroupdriver=systemd merged into daemon.json, every other key
// kept (Jetson's nvidia runtime).
#include "agent/steps/step.hpp"
#include "agent/steps/toml_edit.hpp"

#include "proto/subprocess.hpp"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <fstream>
#include <sstream>

namespace graft::agent {
namespace {

constexpr const char* containerd_config = "/etc/containerd/config.toml";
constexpr const char* docker_config = "/etc/docker/daemon.json";
constexpr const char* runc_v2 = "io.containerd.runc.v2";

std::string installed_at(const host& h, const char* program) {
    for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"})
        if (h.exists(std::string(dir) + program)) return std::string(dir) + program;
    return {};
}
bool installed(const host& h, const char* program) { return !installed_at(h, program).empty(); }

// The ELF machine of a file (EM_X86_64 62, EM_AARCH64 183, EM_ARM 40), 0 when it is not an ELF file.
int elf_machine(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    unsigned char header[20] = {};
    if (!in.read(reinterpret_cast<char*>(header), sizeof header) || header[0] != 0x7f || header[1] != 'E' ||
        header[2] != 'L' || header[3] != 'F')
        return 0;
    return header[5] == 1 ? header[18] | header[19] << 8 : header[18] << 8 | header[19];
}

// The node's own containerd, run with `args`: on the running system as it is; in a tree, the tree's binary — this
// machine runs it when it is of its own architecture, else qemu-user does, with the tree as its library root.
// Returns the output, or nullopt with `how` saying what was tried.
std::optional<std::string> run_node_containerd(const host& h, const std::string& binary, const std::vector<std::string>& args,
                                               std::string& how) {
    std::vector<std::vector<std::string>> attempts;
    if (h.is_running_system()) {
        attempts.push_back({binary});
    } else {
        const int machine = elf_machine(h.path(binary));
        const int ours = elf_machine("/proc/self/exe");
        if (machine == 0) {
            how = h.path(binary) + " is not an ELF program";
            return std::nullopt;
        }
        if (machine == ours) attempts.push_back({h.path(binary)});
        const char* qemu = machine == 183 ? "qemu-aarch64" : machine == 40 ? "qemu-arm" : machine == 62 ? "qemu-x86_64" : nullptr;
        if (qemu) {
            attempts.push_back({std::string(qemu) + "-static", "-L", h.root(), h.path(binary)});
            attempts.push_back({qemu, "-L", h.root(), h.path(binary)});
        }
    }
    for (auto argv : attempts) {
        argv.insert(argv.end(), args.begin(), args.end());
        how.clear();
        for (const auto& a : argv) how += (how.empty() ? "" : " ") + a;
        try {
            auto r = proto::run_process(argv, std::chrono::seconds(60), {}, 1024 * 1024, proto::stderr_to::null);
            if (r.exit_code == 0) return r.output;
            how += " exited with status " + std::to_string(r.exit_code);
        } catch (const std::exception& e) {
            how += ": " + std::string(e.what());
        }
    }
    return std::nullopt;
}

std::string string_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& i : items) out += (out.size() > 1 ? ", " : "") + toml_text::quote(i);
    return out + "]";
}

// The containerd release the node has, from dpkg's database ("1.6.20~ds1-1", "1.7.24-1"), or "".
std::string packaged_containerd_version(const host& h) {
    std::istringstream status(h.read("/var/lib/dpkg/status").value_or(""));
    std::string line, package;
    while (std::getline(status, line)) {
        if (line.starts_with("Package: ")) package = line.substr(9);
        if (line.starts_with("Version: ") && (package == "containerd" || package == "containerd.io")) {
            auto version = line.substr(9);
            return version.substr(version.find(':') == std::string::npos ? 0 : version.find(':') + 1);
        }
    }
    return {};
}

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
            // containerd's own defaults, from the node's containerd: the file its package would have had.
            const std::string binary = installed_at(h, "containerd");
            std::string how = "no containerd program in /usr/bin, /usr/local/bin or /bin";
            std::optional<std::string> defaults;
            if (!binary.empty()) defaults = run_node_containerd(h, binary, {"config", "default"}, how);
            if (!defaults) {
                plan.blocker = std::string(containerd_config) + " does not exist and containerd's defaults could not be "
                               "had (" + how + "); on the node run `containerd config default > " + containerd_config +
                               "` and run graft again (nothing was changed)";
                return;
            }
            start = *defaults;
            plan.notes.push_back(std::string(containerd_config) + " does not exist; starting from `containerd config default`");
        }
        std::optional<toml_text> doc;
        toml::table config;
        try {
            doc.emplace(start, containerd_config);
            config = toml::parse(start);
        } catch (const std::exception& e) {
            plan.blocker = std::string(e.what()) + "; fix it by hand, nothing was changed";
            return;
        }
        try {
            if (!edit_containerd(h, *doc, config, plan)) return;
        } catch (const std::runtime_error& e) {
            plan.blocker = std::string(e.what()) + "; nothing was changed";
            return;
        }
        if (before && doc->str() == *before) return;
        plan.edits.push_back(file_edit::write(containerd_config, before, doc->str(), true));
        plan.actions.push_back(live_action::restart_unit("containerd.service"));
    }

    // The edits, made in `doc`; false when the step is blocked.
    static bool edit_containerd(const host& h, toml_text& doc, const toml::table& config, step_plan& plan) {
        // No version line means version 1 to containerd, but a file without a plugins table (Docker's package ships
        // just disabled_plugins = ["cri"]) means the same in every version: call it version 2.
        auto version = config["version"].value<std::int64_t>();
        if (!version && !config.contains("plugins")) {
            doc.set({"version"}, "2");
            version = 2;
        }
        if (version != 2 && version != 3) {
            const std::string installed = packaged_containerd_version(h);
            plan.blocker = std::string(containerd_config) + " is a version " + std::to_string(version.value_or(1)) +
                           " configuration, which graft does not edit" +
                           (installed.empty() ? "" : " (containerd " + installed + " is installed)") +
                           ". Keep a copy, write containerd's own current defaults with `containerd config default > " +
                           containerd_config + "`, carry your settings over (version 1's plugins.cri is plugins.\"io."
                           "containerd.grpc.v1.cri\" from version 2 on) and run graft again; nothing was changed";
            return false;
        }
        if (auto* disabled = config["disabled_plugins"].as_array()) {
            std::vector<std::string> kept;
            for (const auto& p : *disabled) {
                auto id = p.value<std::string>().value_or("");
                if (id != "cri" && id != "io.containerd.grpc.v1.cri" && !id.starts_with("io.containerd.cri.v1.")) kept.push_back(id);
            }
            if (kept.size() != disabled->size()) {
                doc.set({"disabled_plugins"}, string_list(kept));
                plan.notes.push_back("containerd's CRI plugin was disabled (as Docker's package ships it); enabling it");
            }
        }
        const std::string cri = *version == 2 ? "io.containerd.grpc.v1.cri" : "io.containerd.cri.v1.runtime";
        const std::vector<std::string> runtimes = {"plugins", cri, "containerd", "runtimes"};
        const std::string default_name =
            config["plugins"][cri]["containerd"]["default_runtime_name"].value<std::string>().value_or("runc");
        auto runtime = [&](const std::string& name) { return config["plugins"][cri]["containerd"]["runtimes"][name]; };

        // runc, when the file has it, and the default runtime, whatever it is: complete tables, systemd cgroups.
        std::vector<std::string> names{default_name};
        if (default_name != "runc" && runtime("runc").as_table()) names.push_back("runc");
        for (const auto& name : names) {
            auto path = runtimes;
            path.push_back(name);
            auto type = runtime(name)["runtime_type"].value<std::string>().value_or("");
            if (type.empty()) {
                if (name != "runc") {
                    plan.blocker = std::string(containerd_config) + ": the CRI's default runtime \"" + name + "\" has no " +
                                   (runtime(name).as_table() ? "runtime_type" : "table under " + cri + ".containerd.runtimes") +
                                   "; containerd cannot start a pod with it. Set its runtime_type (" + runc_v2 +
                                   " for runc-compatible runtimes such as nvidia-container-runtime) and run graft again; "
                                   "nothing was changed";
                    return false;
                }
                auto type_path = path;
                type_path.push_back("runtime_type");
                doc.set(type_path, toml_text::quote(runc_v2));
                type = runc_v2;
                plan.notes.push_back(std::string(runtime(name).as_table() ? "the runc runtime table has no runtime_type"
                                                                          : "a runc runtime table is added for SystemdCgroup") +
                                     "; containerd takes the file's runtimes instead of its defaults and does not fill "
                                     "runtime_type in, so it is set to " + runc_v2);
            }
            if (type != runc_v2) {
                plan.notes.push_back("the runtime \"" + name + "\" is " + type + ", not runc: its cgroup driver is its own");
                continue;
            }
            if (runtime(name)["options"]["SystemdCgroup"].value<bool>() != true) {
                path.insert(path.end(), {"options", "SystemdCgroup"});
                doc.set(path, "true");
            }
        }
        if (default_name != "runc") plan.notes.push_back("the CRI's default runtime is \"" + default_name + "\"");
        return true;
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
