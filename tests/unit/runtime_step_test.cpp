#include "agent/steps/step.hpp"

#include "support/steps.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <filesystem>

using namespace graft;
using namespace graft::agent;
namespace fs = std::filesystem;

namespace {

struct node_copy {
    test::temp_dir dir;
    explicit node_copy(const std::string& fixture) {
        test::copy_host_fixture(fixture, dir.path().string());
    }
    step_plan apply() {
        host h(dir.path().string());
        auto plan = test::step_named("container-runtime").probe(h, {});
        if (plan.blocker.empty()) REQUIRE(apply_edits(h, plan).empty());
        return plan;
    }
    toml::table containerd() { return toml::parse_file((dir / "etc/containerd/config.toml")); }
};

}  // namespace

TEST_CASE("containerd version 2: SystemdCgroup on the runc runtime, other settings kept, second run quiet") {
    node_copy node("ubuntu-2204-pi");
    auto plan = node.apply();
    CHECK(plan.blocker.empty());
    auto cfg = node.containerd();
    auto cri = cfg["plugins"]["io.containerd.grpc.v1.cri"];
    CHECK(cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"].value<bool>() == true);
    CHECK(cri["sandbox_image"].value<std::string>() == "registry.k8s.io/pause:3.8");
    CHECK(cri["containerd"]["runtimes"]["runc"]["runtime_type"].value<std::string>() == "io.containerd.runc.v2");
    CHECK(fs::exists(node.dir / "etc/containerd/config.toml.graft-backup"));
    CHECK(node.apply().edits.empty());
}

TEST_CASE("containerd version 3 (containerd 2.x) uses the io.containerd.cri.v1.runtime plugin") {
    node_copy node("arch-x86");
    node.apply();
    auto cfg = node.containerd();
    CHECK(cfg["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"]
              .value<bool>() == true);
    CHECK_FALSE(cfg["plugins"].as_table()->contains("io.containerd.grpc.v1.cri"));
    CHECK(cfg["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"].value<std::string>() ==
          "registry.k8s.io/pause:3.10");
}

TEST_CASE("Docker's containerd package config gets its CRI plugin back and becomes version 2") {
    node_copy node("rpi-os-bookworm");
    auto plan = node.apply();
    auto cfg = node.containerd();
    CHECK(cfg["version"].value<std::int64_t>() == 2);
    CHECK(cfg["disabled_plugins"].as_array()->empty());
    CHECK(cfg["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"]
              .value<bool>() == true);
    CHECK(node.apply().edits.empty());
}

TEST_CASE("a missing config.toml starts from a file containerd completes with its defaults") {
    node_copy node("rpi-os-bookworm");
    fs::remove(node.dir / "etc/containerd/config.toml");
    auto plan = node.apply();
    CHECK(plan.edits.size() == 1);
    auto cfg = node.containerd();
    CHECK(cfg["version"].value<std::int64_t>() == 2);
    CHECK(cfg["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"]
              .value<bool>() == true);
}

TEST_CASE("Jetson's daemon.json gains the systemd cgroup driver and keeps the nvidia runtime and its key order") {
    node_copy node("jetson-l4t");
    node.apply();
    const std::string text = test::read(node.dir / "etc/docker/daemon.json");
    auto cfg = nlohmann::ordered_json::parse(text);
    CHECK(cfg["default-runtime"] == "nvidia");
    CHECK(cfg["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime");
    CHECK(cfg["exec-opts"] == nlohmann::ordered_json::array({"native.cgroupdriver=systemd"}));
    CHECK(cfg.begin().key() == "runtimes");
    CHECK(node.apply().edits.empty());
}

TEST_CASE("a cgroupfs driver in daemon.json is switched, other exec-opts kept") {
    node_copy node("jetson-l4t");
    test::write(node.dir / "etc/docker/daemon.json", R"({"exec-opts": ["native.umask=normal", "native.cgroupdriver=cgroupfs"]})");
    node.apply();
    auto cfg = nlohmann::json::parse(test::read(node.dir / "etc/docker/daemon.json"));
    CHECK(cfg["exec-opts"] == nlohmann::json::array({"native.umask=normal", "native.cgroupdriver=systemd"}));
}

TEST_CASE("an unparsable config.toml or daemon.json blocks the step naming the file, and nothing is written") {
    node_copy node("ubuntu-2204-pi");
    test::write(node.dir / "etc/containerd/config.toml", "version = 2\n[plugins\n");
    auto plan = node.apply();
    CHECK_THAT(plan.blocker, Catch::Contains("/etc/containerd/config.toml is not valid TOML") && Catch::Contains("nothing was changed"));
    CHECK(test::read(node.dir / "etc/containerd/config.toml") == "version = 2\n[plugins\n");

    node_copy jetson("jetson-l4t");
    test::write(jetson.dir / "etc/docker/daemon.json", "{\"runtimes\": {");
    plan = jetson.apply();
    CHECK_THAT(plan.blocker, Catch::Contains("/etc/docker/daemon.json is not valid JSON"));
    CHECK(test::read(jetson.dir / "etc/docker/daemon.json") == "{\"runtimes\": {");
}

TEST_CASE("a version 1 containerd config is refused with the migration command") {
    node_copy node("ubuntu-2204-pi");
    test::write(node.dir / "etc/containerd/config.toml", "[plugins.cri.containerd]\nsnapshotter = \"overlayfs\"\n");
    CHECK_THAT(node.apply().blocker, Catch::Contains("version 1") && Catch::Contains("containerd config migrate"));
}

TEST_CASE("on a node without systemd the runtime keeps cgroupfs, and without a runtime there is nothing to do") {
    node_copy alpine("alpine-pi");
    auto plan = alpine.apply();
    CHECK(plan.edits.empty());
    CHECK(plan.notes.at(0).find("cgroupfs") != std::string::npos);
    node_copy kali("kali-pi");
    CHECK(kali.apply().edits.empty());
}
