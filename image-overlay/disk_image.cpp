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

std::string mtools_target(const std::string& image, const partition& p) { return image + "@@" + std::to_string(p.offset); }
std::string mtools_target(const disk_layout& d) { return mtools_target(d.image, d.boot); }
std::string debugfs_target(const std::string& image, const partition& p) { return image + "?offset=" + std::to_string(p.offset); }
std::string debugfs_target(const disk_layout& d) { return debugfs_target(d.image, d.root); }

// debugfs keeps going after a failed command and exits 0, so its output is where failures show.
std::string debugfs(const std::string& target, const std::string& commands, bool writable) {
    const fs::path file = fs::temp_directory_path() / ("graft-image-" + std::to_string(::getpid()) + ".debugfs");
    proto::write_file_atomic(file.string(), commands, 0600);
    std::vector<std::string> argv{"debugfs"};
    if (writable) argv.push_back("-w");
    argv.insert(argv.end(), {"-f", file.string(), target});
    auto r = run(argv);
    std::error_code ec;
    fs::remove(file, ec);
    if (r.exit_code != 0) throw std::runtime_error("debugfs on " + target + " failed: " + r.output);
    return r.output;
}
std::string debugfs(const disk_layout& d, const std::string& commands, bool writable) {
    return debugfs(debugfs_target(d), commands, writable);
}

// Which of `paths` the ext2/3/4 filesystem at `target` does not have.
std::set<std::string> missing_paths(const std::string& target, const std::vector<std::string>& paths) {
    std::string commands;
    for (const auto& p : paths) commands += "stat " + p + "\n";
    std::set<std::string> missing;
    std::istringstream seen(debugfs(target, commands, false));
    std::string current;
    for (std::string line; std::getline(seen, line);) {
        if (line.starts_with("debugfs: stat ")) current = line.substr(14);
        else if (line.find("File not found") != std::string::npos) missing.insert(current);
    }
    return missing;
}
std::set<std::string> missing_paths(const disk_layout& d, const std::vector<std::string>& paths) {
    return missing_paths(debugfs_target(d), paths);
}

// The names in a FAT partition's top directory, lower-cased (FAT does not keep case reliably).
std::set<std::string> fat_top_level(const std::string& image, const partition& p) {
    auto r = run({"mdir", "-b", "-i", mtools_target(image, p), "::/"});
    std::set<std::string> names;
    if (r.exit_code != 0) return names;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with("::/")) continue;
        std::string name = line.substr(3);
        while (!name.empty() && (name.back() == '/' || name.back() == '\r')) name.pop_back();
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        names.insert(name);
    }
    return names;
}

// config.txt's os_prefix= for a normal boot (Ubuntu's A/B boot layout): the firmware reads cmdline.txt and the
// kernel from that directory. [tryboot] sections (new/, tried once) and [none] ones do not count.
std::string os_prefix_of(const std::string& image, const partition& p) {
    auto r = run({"mtype", "-i", mtools_target(image, p), "::/config.txt"});
    if (r.exit_code != 0) return {};
    std::istringstream lines(r.output);
    bool skipped = false;
    std::string prefix;
    for (std::string line; std::getline(lines, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (line.starts_with("[")) skipped = line == "[tryboot]" || line == "[none]" ? true : line == "[all]" ? false : skipped;
        if (!skipped && line.starts_with("os_prefix=")) prefix = line.substr(10);
    }
    return prefix;
}

std::string mib(std::uint64_t bytes) { return std::to_string((bytes + (1u << 19)) >> 20) + " MiB"; }

}  // namespace

std::string describe(image_family family) {
    switch (family) {
    case image_family::raspberry_pi: return "Raspberry Pi (FAT firmware partition and ext4 root: Raspberry Pi OS, Ubuntu, Debian)";
    case image_family::raspberry_pi_ab: return "Ubuntu for Raspberry Pi with A/B boot (config.txt os_prefix)";
    case image_family::dietpi: return "DietPi for Raspberry Pi (dietpi.txt on the FAT partition)";
    case image_family::armbian: return "Armbian (one ext4 root with /boot/armbianEnv.txt)";
    case image_family::jetson_l4t: return "Jetson L4T (ext4 root with /boot/extlinux/extlinux.conf)";
    }
    return "?";
}

std::string disk_layout::boot_file_place(const std::string& name) const {
    if (boot_on_root()) return "/boot/" + name + " in the root filesystem (partition " + std::to_string(root.number) + ")";
    return "/" + name + " on the FAT partition " + std::to_string(boot.number);
}

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
            part.name = p.value("name", "");
            d.partitions.push_back(part);
        }
    } catch (const std::exception& e) {
        throw std::runtime_error(image + ": cannot read sfdisk's view of the partition table: " + e.what());
    }
    // What the partitions hold decides the family: the Pi firmware's files on a FAT partition, or the files of
    // Armbian's and L4T's boot loaders under an ext4 root's /boot. Each ext4 filesystem is asked once.
    struct ext_facts {
        bool is_root = false, armbian = false, extlinux = false;
    };
    std::vector<std::pair<partition, ext_facts>> ext_partitions;
    for (const auto& p : d.partitions) {
        if (p.filesystem != "ext4") continue;
        const auto missing = missing_paths(debugfs_target(image, p), {"/etc", "/boot/armbianEnv.txt", "/boot/extlinux/extlinux.conf"});
        ext_partitions.push_back({p, {!missing.count("/etc"), !missing.count("/boot/armbianEnv.txt"),
                                      !missing.count("/boot/extlinux/extlinux.conf")}});
    }
    auto first_root = [&](auto&& pred) -> const partition* {
        for (const auto& [p, facts] : ext_partitions)
            if (facts.is_root && pred(facts)) return &p;
        return nullptr;
    };
    for (const auto& p : d.partitions) {
        if (p.filesystem != "vfat" || d.boot.number != 0) continue;
        const auto names = fat_top_level(image, p);
        if (!names.count("config.txt") && !names.count("cmdline.txt")) continue;
        if (const partition* root = first_root([](const ext_facts&) { return true; })) {
            d.boot = p;
            d.root = *root;
            d.family = names.count("dietpi.txt") ? image_family::dietpi : image_family::raspberry_pi;
            if (names.count("config.txt")) d.os_prefix = os_prefix_of(image, p);
            if (!d.os_prefix.empty()) d.family = image_family::raspberry_pi_ab;
        }
    }
    if (d.root.number == 0) {
        if (const partition* root = first_root([](const ext_facts& f) { return f.armbian; })) {
            d.root = *root;
            d.family = image_family::armbian;
        } else if (const partition* l4t = first_root([](const ext_facts& f) { return f.extlinux; })) {
            d.root = *l4t;
            d.family = image_family::jetson_l4t;
        }
    }
    if (d.root.number == 0) {
        std::string found;
        for (const auto& p : d.partitions)
            found += "\n  " + std::to_string(p.number) + ": " + (p.filesystem.empty() ? "no FAT or ext4 filesystem" : p.filesystem) +
                     ", " + mib(p.size) + (p.name.empty() ? "" : ", named " + p.name);
        throw std::runtime_error(
            image + " is not an image graft knows. graft recognises a FAT partition with the Raspberry Pi firmware's "
            "config.txt or cmdline.txt beside an ext4 root (Raspberry Pi OS, Ubuntu and Debian for the Pi, DietPi), or "
            "an ext4 root holding /boot/armbianEnv.txt (Armbian) or /boot/extlinux/extlinux.conf (Jetson L4T). Its " +
            d.table + " partition table has" + (found.empty() ? " no partitions" : ":" + found) + "\nNothing was written.");
    }
    return d;
}

void write_boot_file(const disk_layout& d, const std::string& name, const std::string& content) {
    const fs::path file = fs::temp_directory_path() / ("graft-image-" + std::to_string(::getpid()) + "-" + name);
    proto::write_file_atomic(file.string(), content, 0600);
    if (d.boot_on_root()) {
        // Only root may read it there, as the agent keeps its own copy; the agent removes the token from it.
        const std::string target = "/boot/" + name;
        const bool exists = !missing_paths(d, {target}).count(target);
        const std::string output = debugfs(d, std::string(exists ? "rm " + target + "\n" : "") + "write " + file.string() + " " + target +
                                                  "\nsif " + target + " mode 0100600\nsif " + target + " uid 0\nsif " + target + " gid 0\n",
                                           true);
        std::error_code ec;
        fs::remove(file, ec);
        if (missing_paths(d, {target}).count(target))
            throw std::runtime_error("writing " + d.boot_file_place(name) + " of " + d.image + " failed: " + output);
        return;
    }
    auto r = run({"mcopy", "-o", "-i", mtools_target(d), file.string(), "::" + name});
    std::error_code ec;
    fs::remove(file, ec);
    if (r.exit_code != 0) throw std::runtime_error("writing " + name + " to the boot partition of " + d.image + ": " + r.output);
}

std::string read_boot_file(const disk_layout& d, const std::string& name) {
    if (d.boot_on_root()) return read_root_file(d, "/boot/" + name);
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
                                 "filesystem full?):" + problems + "\n" + d.boot_file_place("graft.json") +
                                 " is already written; fix this and run graft-image again");
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
