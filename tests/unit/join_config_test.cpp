#include "agent/join_config.hpp"

#include <catch2/catch.hpp>

using namespace graft;

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
    proto::join_spec spec;
    spec.node_name = "node-1";
    spec.api_server_endpoint = "10.0.0.1:6443";
    spec.token = "abcdef.0123456789abcdef";
    spec.ca_cert_hashes = {"sha256:" + std::string(64, 'a')};
    auto yaml = agent::kubeadm_join_configuration(spec, "/etc/kubernetes/graft-patches");
    CHECK(yaml.ends_with("  name: \"node-1\"\npatches:\n  directory: \"/etc/kubernetes/graft-patches\"\n"));
}
