// graft-image: writes graft.json and the graft overlay into a node's disk image, as an unprivileged user.
#include "agent/config.hpp"
#include "image-overlay/disk_image.hpp"
#include "proto/cli.hpp"
#include "proto/files.hpp"

#include "proto/subprocess.hpp"

#include <filesystem>
#include <iostream>
#include <optional>

namespace {

constexpr const char* usage = R"(usage: graft-image COMMAND [OPTIONS]

Prepares a node's disk image for "flash and power on", without root and without mounting anything: mtools
reads and writes FAT, e2fsprogs' debugfs the ext4 root filesystem. It knows these layouts:
  Raspberry Pi OS, Ubuntu and Debian for the Pi, DietPi   graft.json on the FAT firmware partition
  Ubuntu for the Pi with A/B boot (os_prefix=current/)    graft.json on the FAT firmware partition
  Armbian (one ext4 root with /boot/armbianEnv.txt)       graft.json in the root's /boot, 0600
  Jetson L4T (ext4 APP with /boot/extlinux/extlinux.conf) graft.json in the root's /boot, 0600
and refuses any other image, naming the partitions it found and writing nothing.

Commands:
  write --image IMG --graft-json FILE [--overlay DIR] [--output OUT]
      Put FILE (the graft.json `graft-coordinator boot-config` prints) where the agent finds it at first boot,
      and copy the overlay tree DIR (graft-agent, its unit enabled for multi-user.target, the journal catalog;
      the build stages one in build/PRESET/image-overlay/rootfs, and an unpacked graft-agent .deb is one) into
      the root filesystem. Everything is checked first: an image graft does not recognise, or a graft.json that
      is not valid, leaves the image unchanged.
      An image as downloaded (IMG.img.xz) needs --output OUT: graft-image decompresses it to OUT (which must not
      exist yet) and writes into OUT, leaving IMG as it was; on any error OUT is removed.
  inspect --image IMG
      Print the partitions, the layout graft recognises, and what it would write where.
  help, --help
      Show this text.
)";

bool compressed(const std::string& image) { return image.ends_with(".xz"); }

// OUT, decompressed from the .xz image; removed again unless keep() is called.
class decompressed_image {
public:
    decompressed_image(const std::string& xz, const std::string& out) : path_(out) {
        if (std::filesystem::exists(out) || std::filesystem::is_symlink(out))
            throw std::runtime_error("--output " + out + " already exists; graft-image does not overwrite it");
        partial_ = out + ".graft-image-partial";
        const auto r = graft::proto::run_process({"sh", "-c", "exec xz -dc -- \"$1\" > \"$2\"", "sh", xz, partial_},
                                                 std::chrono::minutes(30));
        if (r.exit_code != 0) {
            std::error_code ec;
            std::filesystem::remove(partial_, ec);
            throw std::runtime_error("cannot decompress " + xz + " with xz (install xz-utils): " + r.output.substr(0, 300));
        }
    }
    ~decompressed_image() {
        std::error_code ec;
        if (!kept_) std::filesystem::remove(partial_, ec);
    }
    decompressed_image(const decompressed_image&) = delete;
    decompressed_image& operator=(const decompressed_image&) = delete;
    const std::string& work_path() const { return partial_; }
    void keep() {
        std::filesystem::rename(partial_, path_);
        kept_ = true;
    }

private:
    std::string path_, partial_;
    bool kept_ = false;
};

int write(const std::vector<std::string>& argv) {
    graft::proto::cli_args args(argv, {"image", "graft-json", "overlay", "output"}, {});
    const std::string source = args.required("image");
    const std::string graft_json = args.required("graft-json");
    const auto output = args.value("output");
    if (compressed(source) && !output)
        throw graft::proto::usage_error(source + " is compressed: pass --output IMAGE.img to have graft-image decompress it "
                                        "there, or run `xz -dk " + source + "` and give graft-image the .img");
    if (!compressed(source) && output)
        throw graft::proto::usage_error("--output is for a compressed .img.xz image; " + source + " is written in place");
    // The same strict reading the agent does, so a node never boots with a graft.json it will refuse.
    graft::agent::boot_config::load(graft_json);
    const std::string content = graft::proto::read_file(graft_json);
    const auto overlay = args.value("overlay");
    if (overlay && !std::filesystem::is_directory(*overlay))
        throw std::runtime_error("the overlay " + *overlay + " is not a directory");

    std::optional<decompressed_image> unpacked;
    if (output) unpacked.emplace(source, *output);
    const std::string image = unpacked ? unpacked->work_path() : source;
    auto disk = [&] {
        try {
            return graft::image::read_layout(image);
        } catch (const std::exception& e) {
            if (!unpacked) throw;
            // Name the download, not the temporary file it was decompressed to (which is removed).
            std::string text = e.what();
            for (std::size_t at; (at = text.find(image)) != std::string::npos;) text.replace(at, image.size(), source + " (decompressed)");
            throw std::runtime_error(text);
        }
    }();
    graft::image::write_boot_file(disk, "graft.json", content);
    if (overlay) graft::image::write_overlay(disk, *overlay);
    if (unpacked) unpacked->keep();
    std::cerr << "graft-image: " << graft::image::describe(disk.family) << ": wrote " << disk.boot_file_place("graft.json")
              << (overlay ? " and the overlay " + *overlay + " to partition " + std::to_string(disk.root.number) : std::string())
              << " of " << (output ? *output : source) << "\n";
    return 0;
}

int inspect(const std::vector<std::string>& argv) {
    graft::proto::cli_args args(argv, {"image"}, {});
    const std::string image = args.required("image");
    if (compressed(image))
        throw graft::proto::usage_error(image + " is compressed: run `xz -dk " + image + "` and inspect the .img");
    auto disk = graft::image::read_layout(image);
    std::cout << "layout: " << graft::image::describe(disk.family) << "\n";
    if (!disk.os_prefix.empty()) std::cout << "config.txt: os_prefix=" << disk.os_prefix << "\n";
    std::cout << "partition table: " << disk.table << "\n";
    for (const auto& p : disk.partitions)
        std::cout << "  " << p.number << "  offset " << p.offset << "  size " << p.size << "  "
                  << (p.filesystem.empty() ? "-" : p.filesystem) << (p.name.empty() ? "" : "  " + p.name)
                  << (p.number == disk.boot.number ? "  <- graft.json" : "")
                  << (p.number == disk.root.number ? (disk.boot_on_root() ? "  <- /boot/graft.json, overlay" : "  <- overlay") : "")
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
