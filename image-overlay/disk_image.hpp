#pragma once
// Writing into a raw disk image — a Raspberry Pi OS or Ubuntu image as downloaded, say — without root and without
// loop mounts: the partition table is read with sfdisk, the FAT boot partition is written with mtools and the ext4
// root filesystem with e2fsprogs' debugfs, each at its partition's byte offset inside the image file.
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
};

struct disk_layout {
    std::string image;
    std::string table;  // dos or gpt
    std::vector<partition> partitions;
    partition boot;     // the first FAT partition
    partition root;     // the first ext2/3/4 partition after it
};

// Reads and checks the layout; throws std::runtime_error naming the image and what it lacks.
disk_layout read_layout(const std::string& image);

// Writes `content` as /NAME on the boot partition (replacing a file of that name).
void write_boot_file(const disk_layout& disk, const std::string& name, const std::string& content);
// Reads /NAME from the boot partition; throws when it is not there.
std::string read_boot_file(const disk_layout& disk, const std::string& name);

// Copies the tree at `overlay_dir` into the root filesystem: directories (0755), files with their mode bits,
// symlinks as symlinks, everything owned by root. Existing files are replaced.
void write_overlay(const disk_layout& disk, const std::string& overlay_dir);
// Reads a file of the root filesystem (for checks); throws when it is not there.
std::string read_root_file(const disk_layout& disk, const std::string& path);

}  // namespace graft::image
