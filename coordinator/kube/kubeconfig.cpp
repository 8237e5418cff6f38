#include "coordinator/kube/kubeconfig.hpp"

#include "proto/crypto.hpp"
#include "proto/files.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <stdexcept>

namespace graft::coordinator {
namespace {

struct kubeconfig_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The entry of a named list (clusters, users, contexts) whose name is `name`.
YAML::Node find_named(const YAML::Node& root, const char* list, const std::string& name) {
    const YAML::Node entries = root[list];
    if (entries && !entries.IsSequence()) throw kubeconfig_error(std::string("'") + list + "' is not a list");
    if (entries)
        for (const auto& entry : entries)
            if (entry["name"] && entry["name"].as<std::string>() == name) return entry;
    return YAML::Node(YAML::NodeType::Undefined);
}

std::string scalar(const YAML::Node& node, const std::string& field) {
    if (!node.IsScalar()) throw kubeconfig_error("field '" + field + "' is not a string");
    return node.as<std::string>();
}

// `<what>-data` (base64) or `<what>` (a file): the content either way.
std::string data_or_file(const YAML::Node& section, const std::string& section_path, const std::string& what,
                         const std::string& base_dir) {
    if (const auto data = section[what + "-data"]) {
        auto decoded = proto::base64_decode(scalar(data, section_path + "." + what + "-data"));
        if (!decoded) throw kubeconfig_error("field '" + section_path + "." + what + "-data' is not valid base64");
        return *decoded;
    }
    if (const auto file = section[what]) {
        std::filesystem::path p = scalar(file, section_path + "." + what);
        if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
        try {
            return proto::read_file(p.string());
        } catch (const std::exception& e) {
            throw kubeconfig_error("field '" + section_path + "." + what + "' names " + p.string() +
                                   ", which cannot be read: " + e.what());
        }
    }
    return {};
}

}  // namespace

kube_credentials parse_kubeconfig(std::string_view yaml, const std::string& source, const std::string& base_dir) {
    try {
        YAML::Node root;
        try {
            root = YAML::Load(std::string(yaml));
        } catch (const YAML::Exception& e) {
            throw kubeconfig_error(std::string("not valid YAML: ") + e.what());
        }
        if (!root.IsMap()) throw kubeconfig_error("not a kubeconfig (expected a YAML mapping with clusters, users, contexts)");

        const std::string context_name = root["current-context"] ? scalar(root["current-context"], "current-context") : "";
        if (context_name.empty()) throw kubeconfig_error("field 'current-context' is missing or empty");
        const YAML::Node context = find_named(root, "contexts", context_name);
        if (!context || !context["context"])
            throw kubeconfig_error("current-context '" + context_name + "' is not in 'contexts'");
        const std::string cluster_name = context["context"]["cluster"] ? scalar(context["context"]["cluster"], "context.cluster") : "";
        const std::string user_name = context["context"]["user"] ? scalar(context["context"]["user"], "context.user") : "";
        if (user_name.empty()) throw kubeconfig_error("context '" + context_name + "' names no user");
        if (cluster_name.empty()) throw kubeconfig_error("context '" + context_name + "' names no cluster");

        const YAML::Node cluster = find_named(root, "clusters", cluster_name);
        if (!cluster || !cluster["cluster"])
            throw kubeconfig_error("cluster '" + cluster_name + "' of context '" + context_name + "' is not in 'clusters'");
        const YAML::Node user = find_named(root, "users", user_name);
        if (!user || !user["user"])
            throw kubeconfig_error("user '" + user_name + "' of context '" + context_name + "' is not in 'users'");

        kube_credentials c;
        c.source = source;
        const YAML::Node cl = cluster["cluster"];
        if (!cl["server"]) throw kubeconfig_error("cluster '" + cluster_name + "' has no 'server'");
        c.server = scalar(cl["server"], "cluster.server");
        try {
            c.endpoint = proto::parse_https_url(c.server);
        } catch (const std::invalid_argument& e) {
            throw kubeconfig_error("cluster '" + cluster_name + "' server: " + e.what());
        }
        if (cl["insecure-skip-tls-verify"] && cl["insecure-skip-tls-verify"].as<std::string>() == "true")
            throw kubeconfig_error("cluster '" + cluster_name + "' sets insecure-skip-tls-verify; graft only talks to an "
                                   "API server it can verify: give certificate-authority-data");
        c.ca_pem = data_or_file(cl, "cluster", "certificate-authority", base_dir);
        if (c.ca_pem.empty())
            throw kubeconfig_error("cluster '" + cluster_name + "' has no certificate-authority-data or certificate-authority");

        const YAML::Node u = user["user"];
        c.client_certificate_pem = data_or_file(u, "user", "client-certificate", base_dir);
        c.client_key_pem = data_or_file(u, "user", "client-key", base_dir);
        if (u["token"]) c.bearer_token = scalar(u["token"], "user.token");
        else if (u["tokenFile"]) c.bearer_token = data_or_file(u, "user", "tokenFile", base_dir);
        while (!c.bearer_token.empty() && (c.bearer_token.back() == '\n' || c.bearer_token.back() == '\r'))
            c.bearer_token.pop_back();
        if (c.client_certificate_pem.empty() != c.client_key_pem.empty())
            throw kubeconfig_error("user '" + user_name + "' has a client certificate without its key, or a key without "
                                   "its certificate");
        if (c.client_certificate_pem.empty() && c.bearer_token.empty()) {
            const bool plugin = u["exec"] || u["auth-provider"];
            throw kubeconfig_error("user '" + user_name + "' has no client certificate and key and no token" +
                                   std::string(plugin ? " (exec and auth-provider plugins are not supported)" : "") +
                                   "; use the cluster's admin kubeconfig, such as /etc/kubernetes/admin.conf");
        }
        return c;
    } catch (const kubeconfig_error& e) {
        throw std::runtime_error("kubeconfig " + source + ": " + e.what());
    } catch (const YAML::Exception& e) {
        throw std::runtime_error("kubeconfig " + source + ": " + e.what());
    }
}

kube_credentials load_kubeconfig(const std::string& path) {
    std::string text;
    try {
        text = proto::read_file(path);
    } catch (const std::exception& e) {
        throw std::runtime_error("kubeconfig " + path + " cannot be read: " + e.what());
    }
    return parse_kubeconfig(text, path, std::filesystem::path(path).parent_path().string());
}

}  // namespace graft::coordinator
