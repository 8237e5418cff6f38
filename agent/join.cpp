#include "agent/join.hpp"

#include "agent/join_config.hpp"
#include "proto/flavours.hpp"
#include "proto/files.hpp"
#include "proto/log.hpp"
#include "proto/subprocess.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <system_error>

namespace graft::agent {
namespace {

// The first word of the program's output that starts with "v<digit>", as `kubelet --version` ("Kubernetes v1.29.3"),
// `kubeadm version -o short` ("v1.29.3"), `k3s --version` ("k3s version v1.29.3+k3s1 (a1b2c3d)") and
// `k0s version` ("v1.29.3+k0s.0") print it.
std::optional<std::string> version_of(std::vector<std::string> argv) {
    try {
        auto r = proto::run_process(argv, std::chrono::seconds(10));
        if (r.exit_code != 0) return std::nullopt;
        std::istringstream in(r.output);
        for (std::string word; in >> word;)
            if (word.size() > 1 && word[0] == 'v' && std::isdigit(static_cast<unsigned char>(word[1]))) return word;
    } catch (const std::system_error&) {
    }
    return std::nullopt;
}

std::vector<std::string> with(std::vector<std::string> argv, std::initializer_list<std::string> more) {
    argv.insert(argv.end(), more);
    return argv;
}

std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

// Removes a file when it goes out of scope.
struct remove_after {
    std::string path;
    ~remove_after() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
};

// Writes a node file atomically under the root, making its directory (0755) when needed.
void write_node_file(const host& h, const std::string& node_path, const std::string& content, unsigned mode) {
    const std::string target = h.path(node_path);
    std::filesystem::create_directories(std::filesystem::path(target).parent_path());
    proto::write_file_atomic(target, content, mode);
}

}  // namespace

proto::join_request local_versions(const std::string& flavour, const join_programs& programs) {
    proto::join_request req;
    switch (proto::flavour_from_string(flavour).value_or(proto::flavour::kubeadm)) {
    case proto::flavour::k3s:
        req.kubelet_version = version_of(with(programs.k3s, {"--version"}));
        break;
    case proto::flavour::k0s:
        req.kubelet_version = version_of(with(programs.k0s, {"version"}));
        break;
    case proto::flavour::kubeadm:
        req.kubelet_version = version_of(with(programs.kubelet, {"--version"}));
        req.kubeadm_version = version_of(with(programs.kubeadm, {"version", "-o", "short"}));
        break;
    }
    return req;
}

std::string cri_socket(const host& h) {
    auto installed = [&](const char* program) {
        for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/usr/sbin/", "/bin/"})
            if (h.exists(std::string(dir) + program)) return true;
        return false;
    };
    if (installed("containerd") || h.exists("/etc/containerd/config.toml")) return "unix:///run/containerd/containerd.sock";
    if (installed("cri-dockerd")) return "unix:///var/run/cri-dockerd.sock";
    return {};
}

node_joiner::node_joiner(const host& h, const state_store& store, live_system* live, join_programs programs)
    : host_(h), store_(store), live_(live), programs_(std::move(programs)) {}

join_outcome node_joiner::join(const proto::join_spec& spec, const std::string& node_ip) {
    proto::log_info("joining with " + spec.display_command(), {{"GRAFT_NODE", spec.node_name}, {"GRAFT_STEP", "join"}});
    switch (proto::flavour_from_string(spec.flavour).value_or(proto::flavour::kubeadm)) {
    case proto::flavour::k3s: return k3s(spec, node_ip);
    case proto::flavour::k0s: return k0s(spec, node_ip);
    case proto::flavour::kubeadm: break;
    }
    return kubeadm(spec, node_ip);
}

std::string node_joiner::run(const std::vector<std::string>& argv, const std::string& node) {
    std::string last;
    proto::process_result result;
    try {
        result = proto::run_process(argv, programs_.timeout, [&](std::string_view line) {
            last = proto::redact_tokens(line);
            proto::log_info(argv[0] + ": " + last, {{"GRAFT_NODE", node}, {"GRAFT_STEP", "join"}});
        });
    } catch (const std::system_error& e) {
        return e.what();
    }
    if (result.timed_out) return argv[0] + " did not finish within " + std::to_string(programs_.timeout.count()) + "s";
    if (result.exit_code != 0)
        return argv[0] + " exited with status " + std::to_string(result.exit_code) + (last.empty() ? "" : ": " + last);
    return {};
}

std::string node_joiner::kubelet_journal_tail() {
    if (!live_) return {};
    try {
        auto r = proto::run_process({"journalctl", "-u", "kubelet", "-n", "8", "-o", "cat", "--no-pager"},
                                    std::chrono::seconds(10));
        std::string text = proto::redact_tokens(r.output);
        while (!text.empty() && text.back() == '\n') text.pop_back();
        return text.empty() ? "" : "\nlast kubelet journal lines:\n" + text;
    } catch (const std::system_error&) {
        return {};
    }
}

join_outcome node_joiner::kubeadm(const proto::join_spec& spec, const std::string& node_ip) {
    join_configuration_options options;
    options.api_version = join_configuration_api_version(
        local_versions("kubeadm", programs_).kubeadm_version.value_or(""));
    options.cri_socket = cri_socket(host_);
    options.node_ip = node_ip;
    // The directory as kubeadm on the node sees it; it exists when a step wrote a patch (swap policy allow).
    if (host_.exists(kubeadm_patches_dir)) options.patches_dir = kubeadm_patches_dir;
    const std::string file = store_.path("join-configuration.yaml");
    store_.write("join-configuration.yaml", kubeadm_join_configuration(spec, options), 0600);
    remove_after cleanup{file};

    std::string failure = run(with(programs_.kubeadm, {"join", "--config", file}), spec.node_name);
    if (failure.empty()) return {true, {}};
    failure += kubelet_journal_tail();
    // A half-done join leaves files that make the next `kubeadm join` refuse to start.
    if (auto reset = run(with(programs_.kubeadm, {"reset", "-f"}), spec.node_name); !reset.empty())
        proto::log_warning("kubeadm reset after the failed join did not finish: " + reset, {{"GRAFT_NODE", spec.node_name}});
    return {false, failure};
}

join_outcome node_joiner::k3s(const proto::join_spec& spec, const std::string& node_ip) {
    // k3s reads /etc/rancher/k3s/config.yaml and then the drop-ins of config.yaml.d/ in name order, a later file's
    // keys replacing an earlier one's: graft's keys go in a drop-in of their own, and whatever the user keeps in
    // config.yaml (disable, node-label, ...) stays theirs. k3s needs the token whenever it starts before it has its
    // own certificates, so the token file stays (0600).
    constexpr const char* token_file = "/etc/rancher/k3s/graft-token";
    constexpr const char* drop_in = "/etc/rancher/k3s/config.yaml.d/90-graft.yaml";
    write_node_file(host_, token_file, spec.token + "\n", 0600);
    std::string config = "# Written by graft-agent for node " + spec.node_name + "\n";
    config += "server: " + quoted("https://" + spec.api_server_endpoint) + "\n";
    config += "token-file: " + quoted(token_file) + "\n";
    config += "node-name: " + quoted(spec.node_name) + "\n";
    if (!node_ip.empty()) config += "node-ip: " + quoted(node_ip) + "\n";
    write_node_file(host_, drop_in, config, 0600);
    if (!live_) {
        proto::log_info(std::string("wrote ") + drop_in + "; the root is not the running system, so start "
                        "k3s-agent.service on the node yourself", {{"GRAFT_NODE", spec.node_name}, {"GRAFT_STEP", "join"}});
        return {true, {}};
    }
    try {
        live_->enable_and_start_unit("k3s-agent.service");
    } catch (const std::exception& e) {
        return {false, std::string("starting k3s-agent.service: ") + e.what() +
                           " (install k3s in the image with INSTALL_K3S_EXEC=agent INSTALL_K3S_SKIP_START=true)"};
    }
    return {true, {}};
}

join_outcome node_joiner::k0s(const proto::join_spec& spec, const std::string& node_ip) {
    constexpr const char* token_file = "/etc/k0s/graft-join-token";
    write_node_file(host_, token_file, spec.token + "\n", 0600);
    // k0s sees the real filesystem: the file as the node names it, under the root in tests.
    const std::string path = host_.path(token_file);
    // kubelet registers under graft's name for the node, and with the address host preparation chose.
    std::string kubelet_args = "--hostname-override=" + spec.node_name;
    if (!node_ip.empty()) kubelet_args += " --node-ip=" + node_ip;
    auto install = with(programs_.k0s, {"install", "worker", "--token-file", path, "--kubelet-extra-args=" + kubelet_args});
    std::string failure = run(install, spec.node_name);
    if (failure.empty()) failure = run(with(programs_.k0s, {"start"}), spec.node_name);
    if (failure.empty()) return {true, {}};
    failure += kubelet_journal_tail();
    if (auto reset = run(with(programs_.k0s, {"reset"}), spec.node_name); !reset.empty())
        proto::log_warning("k0s reset after the failed join did not finish: " + reset, {{"GRAFT_NODE", spec.node_name}});
    return {false, failure};
}

}  // namespace graft::agent
