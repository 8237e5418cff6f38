// Fuzz target: the agent's readers of the files a node image brings — cmdline.txt, config.txt, extlinux.conf,
// armbianEnv.txt, fstab, containerd's config.toml, Docker's daemon.json, os-release — through every host-preparation
// step's probe, as `graft-agent plan` runs them. The first byte picks the file, the rest is its content, written into
// a Raspberry Pi OS tree (tests/fixtures/hosts/rpi-os-bookworm, copied once). A step may refuse a file it cannot
// understand (an exception naming it); a crash, a leak or undefined behaviour is a finding.
#include "agent/steps/step.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#ifndef GRAFT_FIXTURES_DIR
#error "GRAFT_FIXTURES_DIR names tests/fixtures"
#endif

using namespace graft::agent;

namespace {

constexpr const char* files[] = {"/boot/firmware/cmdline.txt", "/boot/firmware/config.txt", "/boot/extlinux/extlinux.conf",
                                 "/boot/armbianEnv.txt",       "/etc/fstab",                "/etc/containerd/config.toml",
                                 "/etc/docker/daemon.json",    "/etc/os-release"};

struct sandbox {
    std::filesystem::path root;
    sandbox() {
        char pattern[] = "/tmp/graft-fuzz-host.XXXXXX";
        root = ::mkdtemp(pattern);
        std::filesystem::copy(std::string(GRAFT_FIXTURES_DIR) + "/hosts/rpi-os-bookworm", root,
                              std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks);
    }
    ~sandbox() { std::filesystem::remove_all(root); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static sandbox box;
    if (size == 0) return 0;
    const std::string file = files[data[0] % std::size(files)];
    const std::filesystem::path path = box.root / file.substr(1);
    std::filesystem::create_directories(path.parent_path());
    std::string original;
    const bool existed = std::filesystem::exists(path);
    if (existed) {
        std::ifstream in(path, std::ios::binary);
        original.assign(std::istreambuf_iterator<char>(in), {});
    }
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
    }
    const host h(box.root.string());
    host_profile profile;
    profile.node_name = "node-1";
    profile.coordinator = "https://192.0.2.10:8443";
    for (const step* s : all_steps()) {
        try {
            (void)render_plan(s->probe(h, profile));
        } catch (const std::exception&) {
        }
    }
    // Each input starts from the same tree.
    if (existed) {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << original;
    } else {
        std::filesystem::remove(path);
    }
    return 0;
}
