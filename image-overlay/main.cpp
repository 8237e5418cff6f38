// graft-image: writes graft.json and the graft overlay into a node's disk image, as an unprivileged user.
#include "agent/config.hpp"
#include "image-overlay/disk_image.hpp"
#include "proto/cli.hpp"
#include "proto/files.hpp"

#include <iostream>

namespace {

constexpr const char* usage = R"(usage: graft-image COMMAND [OPTIONS]

Prepares a node's disk image (a Raspberry Pi OS, Ubuntu or Debian image with a FAT boot partition and an ext4
root) for "flash and power on", without root and without mounting anything: mtools writes the boot partition,
e2fsprogs' debugfs the root filesystem.

Commands:
  write --image IMG --graft-json FILE [--overlay DIR]
      Put FILE (the graft.json `graft-coordinator boot-config` prints) on the boot partition as /graft.json,
      and copy the overlay tree DIR (graft-agent, its unit enabled for multi-user.target, the journal
      catalog; the build stages one in build/PRESET/image-overlay/rootfs) into the root filesystem. Everything
      is checked first: an image graft does not recognise, or a graft.json that is not valid, leaves the
      image unchanged.
  inspect --image IMG
      Print the partitions and what graft would write where.
  help, --help
      Show this text.
)";

int write(const std::vector<std::string>& argv) {
    graft::proto::cli_args args(argv, {"image", "graft-json", "overlay"}, {});
    const std::string image = args.required("image");
    const std::string graft_json = args.required("graft-json");
    auto disk = graft::image::read_layout(image);
    // The same strict reading the agent does, so a node never boots with a graft.json it will refuse.
    graft::agent::boot_config::load(graft_json);
    const std::string content = graft::proto::read_file(graft_json);
    const auto overlay = args.value("overlay");
    graft::image::write_boot_file(disk, "graft.json", content);
    if (overlay) graft::image::write_overlay(disk, *overlay);
    std::cerr << "graft-image: wrote graft.json to partition " << disk.boot.number
              << (overlay ? " and the overlay " + *overlay + " to partition " + std::to_string(disk.root.number) : std::string())
              << " of " << image << "\n";
    return 0;
}

int inspect(const std::vector<std::string>& argv) {
    graft::proto::cli_args args(argv, {"image"}, {});
    auto disk = graft::image::read_layout(args.required("image"));
    std::cout << "partition table: " << disk.table << "\n";
    for (const auto& p : disk.partitions)
        std::cout << "  " << p.number << "  offset " << p.offset << "  size " << p.size << "  "
                  << (p.filesystem.empty() ? "-" : p.filesystem)
                  << (p.number == disk.boot.number ? "  <- graft.json" : p.number == disk.root.number ? "  <- overlay" : "")
                  << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return graft::proto::run_main("graft-image", usage, args, [](const std::string& command, const std::vector<std::string>& rest) {
        if (command == "write") return write(rest);
        if (command == "inspect") return inspect(rest);
        throw graft::proto::usage_error("unknown command '" + command + "'");
    });
}
