#include "agent/steps/step.hpp"
#include "proto/subprocess.hpp"

#include "support/steps.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <filesystem>
#include <sstream>

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
    // containerd's own reading of the file graft wrote: Debian 12's containerd 1.6, `config dump`.
    toml::table dump() {
        auto bin = test::unpacked_package("containerd_amd64") / "usr/bin/containerd";
        auto r = proto::run_process({bin.string(), "--config", dir / "etc/containerd/config.toml", "config", "dump"},
                                    std::chrono::seconds(30));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        return toml::parse(r.output);
    }
};

// The CRI's runtime NAME as containerd 1.6 reads it.
toml::node_view<toml::node> cri_runtime(toml::table& dump, const std::string& name) {
    return dump["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"][name];
}

// How many lines of the plan's diff for the file start with + or - (not counting the --- and +++ header).
int changed_lines(const step_plan& plan) {
    std::istringstream in(render_plan(plan));
    int n = 0;
    for (std::string l; std::getline(in, l);)
        if ((l.starts_with("+") && !l.starts_with("+++")) || (l.starts_with("-") && !l.starts_with("---"))) ++n;
    return n;
}

}  // namespace

TEST_CASE("Debian 12's own containerd config: containerd's config dump shows runc with its runtime_type and SystemdCgroup") {
    node_copy node("rpi-os-bookworm");
    const auto debian = test::read(test::unpacked_package("containerd_amd64") / "etc/containerd/config.toml");
    test::write(node.dir / "etc/containerd/config.toml", debian);
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    auto dump = node.dump();
    CHECK(cri_runtime(dump, "runc")["runtime_type"].value<std::string>() == "io.containerd.runc.v2");
    CHECK(cri_runtime(dump, "runc")["options"]["SystemdCgroup"].value<bool>() == true);
    CHECK(dump["plugins"]["io.containerd.grpc.v1.cri"]["cni"]["bin_dir"].value<std::string>() == "/usr/lib/cni");
    // In place: the package's lines stay, the plan shows only the four added ones.
    CHECK(changed_lines(plan) == 4);
    const auto after = test::read(node.dir / "etc/containerd/config.toml");
    CHECK(after.starts_with("version = 2\n\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    [plugins.\"io.containerd.grpc.v1.cri\".cni]\n"));
    CHECK(node.apply().edits.empty());
}

TEST_CASE("a runc table holding only options gains runtime_type, which containerd would otherwise leave empty") {
    node_copy node("rpi-os-bookworm");
    test::write(node.dir / "etc/containerd/config.toml",
                "version = 2\n# kept\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
                "  BinaryName = \"/usr/bin/runc\"\n");
    node.apply();
    auto dump = node.dump();
    CHECK(cri_runtime(dump, "runc")["runtime_type"].value<std::string>() == "io.containerd.runc.v2");
    CHECK(cri_runtime(dump, "runc")["options"]["SystemdCgroup"].value<bool>() == true);
    CHECK(cri_runtime(dump, "runc")["options"]["BinaryName"].value<std::string>() == "/usr/bin/runc");
    CHECK(test::read(node.dir / "etc/containerd/config.toml").find("# kept\n") != std::string::npos);
}

TEST_CASE("a CRI default runtime other than runc (nvidia) gets the systemd cgroup driver too") {
    node_copy node("rpi-os-bookworm");
    test::write(node.dir / "etc/containerd/config.toml", R"(version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "nvidia"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
    privileged_without_host_devices = false
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]
      BinaryName = "/usr/bin/nvidia-container-runtime"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
)");
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    auto dump = node.dump();
    CHECK(dump["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["default_runtime_name"].value<std::string>() == "nvidia");
    CHECK(cri_runtime(dump, "nvidia")["options"]["SystemdCgroup"].value<bool>() == true);
    CHECK(cri_runtime(dump, "nvidia")["options"]["BinaryName"].value<std::string>() == "/usr/bin/nvidia-container-runtime");
    CHECK(cri_runtime(dump, "runc")["options"]["SystemdCgroup"].value<bool>() == true);
    CHECK(node.apply().edits.empty());
}

TEST_CASE("a default runtime without a table or runtime_type is refused, naming it, and nothing is written") {
    node_copy node("rpi-os-bookworm");
    const std::string text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"crun\"\n";
    test::write(node.dir / "etc/containerd/config.toml", text);
    auto plan = node.apply();
    CHECK_THAT(plan.blocker, Catch::Contains("default runtime \"crun\"") && Catch::Contains("runtime_type"));
    CHECK(test::read(node.dir / "etc/containerd/config.toml") == text);
}

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
    auto dump = node.dump();
    CHECK(dump["disabled_plugins"].as_array()->empty());
    CHECK(cri_runtime(dump, "runc")["runtime_type"].value<std::string>() == "io.containerd.runc.v2");
    CHECK(cri_runtime(dump, "runc")["options"]["SystemdCgroup"].value<bool>() == true);
    // Docker's license header and commented-out settings are still there.
    const auto text = test::read(node.dir / "etc/containerd/config.toml");
    CHECK(text.starts_with("#   Copyright 2018-2022 Docker Inc."));
    CHECK(text.find("#root = \"/var/lib/containerd\"") != std::string::npos);
    CHECK(node.apply().edits.empty());
}

TEST_CASE("a missing config.toml is made from the tree's own containerd: `config default`, then edited") {
    node_copy node("rpi-os-bookworm");
    fs::remove(node.dir / "etc/containerd/config.toml");
    fs::copy_file(test::unpacked_package("containerd_amd64") / "usr/bin/containerd", node.dir / "usr/bin/containerd",
                  fs::copy_options::overwrite_existing);
    auto plan = node.apply();
    REQUIRE(plan.blocker.empty());
    CHECK(plan.edits.size() == 1);
    CHECK_THAT(plan.notes.at(0), Catch::Contains("containerd config default"));
    auto dump = node.dump();
    CHECK(cri_runtime(dump, "runc")["runtime_type"].value<std::string>() == "io.containerd.runc.v2");
    CHECK(cri_runtime(dump, "runc")["options"]["SystemdCgroup"].value<bool>() == true);
    // containerd's defaults are there, not a minimal file: the sandbox image, for one.
    CHECK(node.containerd()["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"].value<std::string>().has_value());
}

TEST_CASE("an arm64 tree's containerd runs under qemu-user to make the missing config.toml") {
    node_copy node("rpi-os-bookworm");
    fs::remove(node.dir / "etc/containerd/config.toml");
    const auto pkg = test::unpacked_package("containerd_arm64");
    fs::copy_file(pkg / "usr/bin/containerd", node.dir / "usr/bin/containerd", fs::copy_options::overwrite_existing);
    // The tree's C library, as an arm64 image has it (this machine has arm64's through multiarch).
    fs::create_directories(node.dir / "lib/aarch64-linux-gnu");
    fs::copy_file("/lib/ld-linux-aarch64.so.1", node.dir / "lib/ld-linux-aarch64.so.1");
    fs::copy_file("/lib/aarch64-linux-gnu/libc.so.6", node.dir / "lib/aarch64-linux-gnu/libc.so.6");
    auto plan = node.apply();
    INFO(plan.blocker);
    REQUIRE(plan.blocker.empty());
    CHECK(node.containerd()["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"].value<std::string>().has_value());
    CHECK(node.dump()["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"]
              .value<bool>() == true);
}

TEST_CASE("a missing config.toml with no containerd that runs is refused with the command to run, nothing written") {
    node_copy node("rpi-os-bookworm");  // its /usr/bin/containerd is an empty file
    fs::remove(node.dir / "etc/containerd/config.toml");
    auto plan = node.apply();
    CHECK_THAT(plan.blocker, Catch::Contains("containerd config default > /etc/containerd/config.toml") &&
                                 Catch::Contains("nothing was changed"));
    CHECK_FALSE(fs::exists(node.dir / "etc/containerd/config.toml"));
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

TEST_CASE("a version 1 containerd config is refused with advice containerd 1.6 and 2.x both take, nothing written") {
    node_copy node("ubuntu-2204-pi");
    const std::string v1 = "[plugins.cri.containerd]\nsnapshotter = \"overlayfs\"\n";
    test::write(node.dir / "etc/containerd/config.toml", v1);
    test::write(node.dir / "var/lib/dpkg/status", "Package: containerd\nStatus: install ok installed\nVersion: 1.6.20~ds1-1+deb12u3\n\n");
    auto blocker = node.apply().blocker;
    CHECK_THAT(blocker, Catch::Contains("version 1") && Catch::Contains("containerd 1.6.20~ds1-1+deb12u3 is installed") &&
                            Catch::Contains("containerd config default > /etc/containerd/config.toml"));
    // containerd 1.6 has no `config migrate`; 2.x has it but no longer reads version 1.
    CHECK_THAT(blocker, !Catch::Contains("migrate"));
    CHECK(test::read(node.dir / "etc/containerd/config.toml") == v1);
    // The advice works: containerd 1.6's own defaults are a version 2 file graft edits.
    auto bin = test::unpacked_package("containerd_amd64") / "usr/bin/containerd";
    auto defaults = proto::run_process({bin.string(), "config", "default"}, std::chrono::seconds(30));
    REQUIRE(defaults.exit_code == 0);
    test::write(node.dir / "etc/containerd/config.toml", defaults.output);
    REQUIRE(node.apply().blocker.empty());
    auto dump = node.dump();
    CHECK(cri_runtime(dump, "runc")["options"]["SystemdCgroup"].value<bool>() == true);
}

TEST_CASE("on a node without systemd the runtime keeps cgroupfs, and without a runtime there is nothing to do") {
    node_copy alpine("alpine-pi");
    auto plan = alpine.apply();
    CHECK(plan.edits.empty());
    CHECK(plan.notes.at(0).find("cgroupfs") != std::string::npos);
    node_copy kali("kali-pi");
    CHECK(kali.apply().edits.empty());
}
