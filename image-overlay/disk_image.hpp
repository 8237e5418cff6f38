#pragma once
// Writing into a raw disk image — a Raspberry Pi OS, Ubuntu, Armbian or Jetson image as downloaded, say — without
// root and without loop mounts: the partition table is read with sfdisk, the FAT boot partition is read and written
// with mtools and the ext4 root filesystem with e2fsprogs' debugfs, each at its partition's byte offset inside the
// image file.
// Every check comes before the first write, so an image graft does not recognise is left exactly as it was.

#include <cstdint>
#include <string>
#include <vector>

namespace graft::image {

struct partition {
    int number = 0;              // 1-based, as the partition table counts
    std::uint64_t offset = 0;    // bytes from the start of the image
    std::uint64_t size = 0;      // bytes
    std::string filesystem;      // "vfat", "ext4" (also ext2/ext3), or "" when neither
    std::string name;            // the GPT partition name (APP on a Jetson), "" on MBR
};

// The image families graft knows, by what their partitions hold.
enum class image_family {
    raspberry_pi,      // a FAT partition with the Pi firmware's config.txt/cmdline.txt, then an ext4 root:
                       // Raspberry Pi OS, Ubuntu and Debian for the Pi
    raspberry_pi_ab,   // the same with config.txt's os_prefix= (Ubuntu's A/B boot: current/, new/)
    dietpi,            // the same with dietpi.txt on the FAT partition
    armbian,           // one ext4 root holding /boot/armbianEnv.txt
    jetson_l4t,        // an ext4 root (APP) holding /boot/extlinux/extlinux.conf, no FAT firmware partition
};
std::string describe(image_family family);

struct disk_layout {
    std::string image;
    std::string table;  // dos or gpt
    std::vector<partition> partitions;
    image_family family = image_family::raspberry_pi;
    partition boot;     // the FAT partition the firmware reads; number 0 when graft.json goes to the root's /boot
    partition root;     // the ext2/3/4 root filesystem
    std::string os_prefix;  // raspberry_pi_ab: config.txt's os_prefix (current/)

    bool boot_on_root() const { return boot.number == 0; }
    // Where graft.json goes, for messages: "/graft.json on partition 1 (FAT)" or "/boot/graft.json on partition 1".
    std::string boot_file_place(const std::string& name) const;
};

// Reads and checks the layout; throws std::runtime_error naming the image and what it lacks.
disk_layout read_layout(const std::string& image);

// Writes `content` as /NAME on the boot partition (replacing a file of that name), or as /boot/NAME in the root
// filesystem (0600, root's) when the image has no firmware partition; the agent looks in both places.
void write_boot_file(const disk_layout& disk, const std::string& name, const std::string& content);
// Reads that file back; throws when it is not there.
std::string read_boot_file(const disk_layout& disk, const std::string& name);

// Copies the tree at `overlay_dir` into the root filesystem: directories (0755), files with their mode bits,
// symlinks as symlinks, everything owned by root. Existing files are replaced.
void write_overlay(const disk_layout& disk, const std::string& overlay_dir);
// Reads a file of the root filesystem (for checks); throws when it is not there.
std::string read_root_file(const disk_layout& disk, const std::string& path);

}  // namespace graft::image
