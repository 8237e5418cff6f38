#include "image-overlay/disk_image.hpp"

#include "proto/files.hpp"
#include "proto/json_fields.hpp"
#include "proto/subprocess.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace graft::image {
namespace {

namespace fs = std::filesystem;

proto::process_result run(const std::vector<std::string>& argv) {
    try {
        return proto::run_process(argv, std::chrono::seconds(300));
    } catch (const std::system_error& e) {
        throw std::runtime_error("cannot run " + argv[0] + " (" + e.what() + "); install " +
                                 (argv[0] == "sfdisk" ? "fdisk" : argv[0] == "debugfs" ? "e2fsprogs" : "mtools"));
    }
}

std::string read_bytes(const std::string& image, std::uint64_t offset, std::size_t count) {
    std::ifstream in(image, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    std::string out(count, '\0');
    in.read(out.data(), static_cast<std::streamsize>(count));
    if (static_cast<std::size_t>(in.gcount()) != count) return {};
    return out;
}

// What the partition's first bytes say it holds: a FAT boot sector, or an ext2/3/4 superblock (magic 0xEF53).
std::string filesystem_at(const std::string& image, std::uint64_t offset) {
    const std::string sector = read_bytes(image, offset, 512);
    if (sector.size() == 512 && static_cast<unsigned char>(sector[510]) == 0x55 && static_cast<unsigned char>(sector[511]) == 0xAA &&
        (sector.compare(0x36, 3, "FAT") == 0 || sector.compare(0x52, 5, "FAT32") == 0))
        return "vfat";
    const std::string magic = read_bytes(image, offset + 1024 + 56, 2);
    if (magic.size() == 2 && static_cast<unsigned char>(magic[0]) == 0x53 && static_cast<unsigned char>(magic[1]) == 0xEF)
        return "ext4";
    return {};
}

std::string mtools_target(const disk_layout& d) { return d.image + "@@" + std::to_string(d.boot.offset); }
std::string debugfs_target(const disk_layout& d) { return d.image + "?offset=" + std::to_string(d.root.offset); }

// debugfs keeps going after a failed command and exits 0, so its output is where failures show.
std::string debugfs(const disk_layout& d, const std::string& commands, bool writable) {
    const fs::path file = fs::temp_directory_path() / ("graft-image-" + std::to_string(::getpid()) + ".debugfs");
    proto::write_file_atomic(file.string(), commands, 0600);
    std::vector<std::string> argv{"debugfs"};
    if (writable) argv.push_back("-w");
    argv.insert(argv.end(), {"-f", file.string(), debugfs_target(d)});
    auto r = run(argv);
    std::error_code ec;
    fs::remove(file, ec);
    if (r.exit_code != 0) throw std::runtime_error("debugfs on " + debugfs_target(d) + " failed: " + r.output);
    return r.output;
}

// Which of `paths` the root filesystem does not have.
std::set<std::string> missing_paths(const disk_layout& d, const std::vector<std::string>& paths) {
    std::string commands;
    for (const auto& p : paths) commands += "stat " + p + "\n";
    std::set<std::string> missing;
    std::istringstream seen(debugfs(d, commands, false));
    std::string current;
    for (std::string line; std::getline(seen, line);) {
        if (line.starts_with("debugfs: stat ")) current = line.substr(14);
        else if (line.find("File not found") != std::string::npos) missing.insert(current);
    }
    return missing;
}

}  // namespace

disk_layout read_layout(const std::string& image) {
    if (!fs::is_regular_file(image)) throw std::runtime_error(image + " is not a disk image file");
    auto r = run({"sfdisk", "--json", image});
    if (r.exit_code != 0)
        throw std::runtime_error(image + " has no partition table (sfdisk: " + r.output.substr(0, 200) +
                                 "); graft writes into whole-disk images with a FAT boot partition and an ext4 root");
    disk_layout d;
    d.image = image;
    try {
        const auto doc = proto::parse_json(r.output);
        const auto& table = doc.at("partitiontable");
        d.table = table.at("label").get<std::string>();
        const std::uint64_t sector = table.value("sectorsize", 512);
        int number = 0;
        for (const auto& p : table.at("partitions")) {
            partition part;
            part.number = ++number;
            part.offset = p.at("start").get<std::uint64_t>() * sector;
            part.size = p.at("size").get<std::uint64_t>() * sector;
            part.filesystem = filesystem_at(image, part.offset);
            d.partitions.push_back(part);
        }
    } catch (const std::exception& e) {
        throw std::runtime_error(image + ": cannot read sfdisk's view of the partition table: " + e.what());
    }
    std::string found;
    for (const auto& p : d.partitions) {
        found += (found.empty() ? "" : ", ") + std::to_string(p.number) + ": " + (p.filesystem.empty() ? "unknown" : p.filesystem);
        if (p.filesystem == "vfat" && d.boot.number == 0) d.boot = p;
        else if (p.filesystem == "ext4" && d.boot.number != 0 && d.root.number == 0) d.root = p;
    }
    if (d.boot.number == 0 || d.root.number == 0)
        throw std::runtime_error(image + " is not an image graft knows: it needs a FAT boot partition followed by an ext4 "
                                 "root partition, and has " + (found.empty() ? "no partitions" : found) +
                                 "; nothing was written");
    return d;
}

void write_boot_file(const disk_layout& d, const std::string& name, const std::string& content) {
    const fs::path file = fs::temp_directory_path() / ("graft-image-" + std::to_string(::getpid()) + "-" + name);
    proto::write_file_atomic(file.string(), content, 0600);
    auto r = run({"mcopy", "-o", "-i", mtools_target(d), file.string(), "::" + name});
    std::error_code ec;
    fs::remove(file, ec);
    if (r.exit_code != 0) throw std::runtime_error("writing " + name + " to the boot partition of " + d.image + ": " + r.output);
}

std::string read_boot_file(const disk_layout& d, const std::string& name) {
    auto r = run({"mtype", "-i", mtools_target(d), "::" + name});
    if (r.exit_code != 0) throw std::runtime_error(name + " is not on the boot partition of " + d.image + ": " + r.output);
    return r.output;
}

void write_overlay(const disk_layout& d, const std::string& overlay_dir) {
    if (!fs::is_directory(overlay_dir)) throw std::runtime_error("the overlay " + overlay_dir + " is not a directory");
    std::vector<fs::path> entries;
    for (auto it = fs::recursive_directory_iterator(overlay_dir); it != fs::recursive_directory_iterator(); ++it)
        entries.push_back(it->path());
    std::sort(entries.begin(), entries.end());  // parents before children
    std::vector<std::string> targets;
    for (const auto& path : entries) {
        targets.push_back("/" + fs::relative(path, overlay_dir).generic_string());
        if (targets.back().find_first_of("\" \n") != std::string::npos)
            throw std::runtime_error("overlay path " + targets.back() + " has a space, quote or newline debugfs cannot take");
    }

    // What the image has already. debugfs's mkdir of an existing directory leaks an inode (e2fsck then finds an
    // unconnected directory), so directories are made only where missing, and files removed only where present.
    const auto before = missing_paths(d, targets);
    std::string commands;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& path = entries[i];
        const std::string& target = targets[i];
        const bool exists = !before.count(target);
        const auto status = fs::symlink_status(path);
        if (fs::is_directory(status)) {
            if (!exists) commands += "mkdir " + target + "\nsif " + target + " mode 040755\n";
            continue;
        }
        if (exists) commands += "rm " + target + "\n";
        if (fs::is_symlink(status)) {
            commands += "symlink " + target + " " + fs::read_symlink(path).string() + "\n";
        } else if (fs::is_regular_file(status)) {
            struct stat st{};
            ::stat(path.c_str(), &st);
            char mode[16];
            std::snprintf(mode, sizeof mode, "0%o", 0100000 | (st.st_mode & 07777));
            commands += "write " + path.string() + " " + target + "\n";
            commands += "sif " + target + " mode " + mode + "\n";
        } else {
            throw std::runtime_error("overlay entry " + path.string() + " is neither a file, a directory nor a symlink");
        }
        commands += "sif " + target + " uid 0\nsif " + target + " gid 0\n";
    }

    std::string problems;
    std::istringstream written(debugfs(d, commands, true));
    for (std::string line; std::getline(written, line);)
        if (line.starts_with("write:") || line.starts_with("symlink:") || line.starts_with("sif:") ||
            line.starts_with("mkdir:") || line.starts_with("rm:"))
            problems += "\n  " + line;
    for (const auto& gone : missing_paths(d, targets)) problems += "\n  " + gone + " is missing";
    if (!problems.empty())
        throw std::runtime_error("debugfs did not write the whole overlay into " + debugfs_target(d) + " (is the root "
                                 "filesystem full?):" + problems + "\nThe boot partition already has graft.json; fix "
                                 "this and run graft-image again");
}

std::string read_root_file(const disk_layout& d, const std::string& path) {
    const fs::path out = fs::temp_directory_path() / ("graft-image-" + std::to_string(::getpid()) + ".dump");
    std::error_code ec;
    fs::remove(out, ec);
    debugfs(d, "dump " + path + " " + out.string() + "\n", false);
    if (!fs::exists(out)) throw std::runtime_error(path + " is not in the root filesystem of " + d.image);
    std::string content = proto::read_file(out.string());
    fs::remove(out, ec);
    return content;
}

}  // namespace graft::image
