#include "agent/join_config.hpp"

#include <catch2/catch.hpp>

using namespace graft;

namespace {

proto::join_spec one_pin_spec() {
    proto::join_spec spec;
    spec.node_name = "node-1";
    spec.api_server_endpoint = "10.0.0.1:6443";
    spec.token = "abcdef.0123456789abcdef";
    spec.ca_cert_hashes = {"sha256:" + std::string(64, 'a')};
    return spec;
}

}  // namespace

TEST_CASE("a join spec becomes the JoinConfiguration kubeadm join --config reads") {
    proto::join_spec spec;
    spec.node_name = "node-1";
    spec.api_server_endpoint = "10.0.0.1:6443";
    spec.token = "abcdef.0123456789abcdef";
    spec.ca_cert_hashes = {"sha256:" + std::string(64, 'a'), "sha256:" + std::string(64, 'b')};
    CHECK(agent::kubeadm_join_configuration(spec) ==
          "apiVersion: kubeadm.k8s.io/v1beta3\n"
          "kind: JoinConfiguration\n"
          "discovery:\n"
          "  bootstrapToken:\n"
          "    apiServerEndpoint: \"10.0.0.1:6443\"\n"
          "    token: \"abcdef.0123456789abcdef\"\n"
          "    caCertHashes:\n"
          "    - \"sha256:" + std::string(64, 'a') + "\"\n"
          "    - \"sha256:" + std::string(64, 'b') + "\"\n"
          "nodeRegistration:\n"
          "  name: \"node-1\"\n");
}

TEST_CASE("values are quoted so YAML cannot misread them") {
    proto::join_spec spec;
    spec.node_name = "node-1";
    spec.api_server_endpoint = "host: \"x\"\n  evil: yes";
    auto yaml = agent::kubeadm_join_configuration(spec);
    CHECK(yaml.find("apiServerEndpoint: \"host: \\\"x\\\"\\n  evil: yes\"") != std::string::npos);
}

TEST_CASE("a node with kubelet patches points kubeadm join at their directory") {
    const proto::join_spec spec = one_pin_spec();
    agent::join_configuration_options options;
    options.patches_dir = "/etc/kubernetes/graft-patches";
    auto yaml = agent::kubeadm_join_configuration(spec, options);
    CHECK(yaml.ends_with("  name: \"node-1\"\npatches:\n  directory: \"/etc/kubernetes/graft-patches\"\n"));
}

TEST_CASE("kubeadm 1.31 and later get v1beta4 and older or unknown ones v1beta3") {
    CHECK(agent::join_configuration_api_version("v1.31.0") == "kubeadm.k8s.io/v1beta4");
    CHECK(agent::join_configuration_api_version("v1.32.4") == "kubeadm.k8s.io/v1beta4");
    CHECK(agent::join_configuration_api_version("v1.30.9") == "kubeadm.k8s.io/v1beta3");
    CHECK(agent::join_configuration_api_version("v1.22.0") == "kubeadm.k8s.io/v1beta3");
    CHECK(agent::join_configuration_api_version("") == "kubeadm.k8s.io/v1beta3");
}

TEST_CASE("the CRI socket and node IP go into nodeRegistration in the form each apiVersion has") {
    const proto::join_spec spec = one_pin_spec();
    agent::join_configuration_options options;
    options.cri_socket = "unix:///run/containerd/containerd.sock";
    options.node_ip = "192.168.1.20";

    options.api_version = "kubeadm.k8s.io/v1beta3";
    CHECK_THAT(agent::kubeadm_join_configuration(spec, options),
               Catch::EndsWith("  name: \"node-1\"\n"
                               "  criSocket: \"unix:///run/containerd/containerd.sock\"\n"
                               "  kubeletExtraArgs:\n"
                               "    node-ip: \"192.168.1.20\"\n"));
    // v1beta4 turned kubeletExtraArgs into a list of name/value pairs.
    options.api_version = "kubeadm.k8s.io/v1beta4";
    auto v4 = agent::kubeadm_join_configuration(spec, options);
    CHECK_THAT(v4, Catch::StartsWith("apiVersion: kubeadm.k8s.io/v1beta4\n"));
    CHECK_THAT(v4, Catch::EndsWith("  kubeletExtraArgs:\n"
                                   "  - name: \"node-ip\"\n"
                                   "    value: \"192.168.1.20\"\n"));
}
