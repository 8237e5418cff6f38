// graft-image against real disk images made here with sfdisk, mkfs and mtools the way the images users download are
// laid out — Raspberry Pi OS (an MBR with a FAT firmware partition holding cmdline.txt, then an ext4 root), Ubuntu's
// A/B boot, DietPi, Armbian (one ext4 root holding /boot/armbianEnv.txt), Jetson L4T (GPT, the APP ext4 partition
// with /boot/extlinux/extlinux.conf among raw partitions) — read back with mtools and debugfs, and run as an
// unprivileged user, since the tool must need no root.
#include "proto/crypto.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

using namespace graft;

namespace {

const std::string tool = GRAFT_IMAGE_BIN;
const std::string overlay = GRAFT_OVERLAY_DIR;
const std::string pin = "sha256:" + std::string(64, 'c');
const std::string good_json = R"({"coordinator": "https://10.0.2.2:8443", "ca_pin": ")" + pin +
                              R"(", "enrollment_token": "abcd1234.s3cret"})";

void must(const std::vector<std::string>& argv) {
    auto r = test::run(argv);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
}

// A 160 MiB image (sparse): partition 1 FAT (boot, with cmdline.txt), partition 2 ext4 (root, with /etc), room
// for an unstripped agent.
void make_pi_image(const std::string& image, const test::temp_dir& dir) {
    must({"truncate", "-s", "160M", image});
    must({"sh", "-c", "printf 'label: dos\\nstart=2048, size=16M, type=c, bootable\\nstart=, type=83\\n' | sfdisk -q '" + image + "'"});
    must({"mkfs.vfat", "--offset", "2048", "-n", "bootfs", image, std::to_string(16 * 1024)});
    test::write(dir / "cmdline.txt", "console=serial0,115200 root=PARTUUID=0001-02 rootwait\n");
    must({"mcopy", "-i", image + "@@" + std::to_string(2048 * 512), dir / "cmdline.txt", "::cmdline.txt"});
    test::write(dir / "rootfs/etc/hostname", "raspberrypi\n");
    must({"mkfs.ext4", "-q", "-F", "-d", dir / "rootfs", "-E", "offset=" + std::to_string((2048 + 16 * 2048) * 512), image, "140M"});
}

// Runs graft-image as nobody: every file it needs is made readable or writable for that user first.
proto::process_result as_nobody(const test::temp_dir& dir, std::vector<std::string> argv) {
    std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
    must({"chown", "-R", "nobody:nogroup", dir.path().string()});
    argv.insert(argv.begin(), {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", "TMPDIR=" + dir.path().string()});
    return test::run(argv);
}

std::string debugfs(const std::string& image, const std::string& command) {
    return test::run({"debugfs", "-R", command, image + "?offset=" + std::to_string((2048 + 16 * 2048) * 512)}).output;
}

}  // namespace

TEST_CASE("graft-image writes graft.json to the boot partition and the overlay into the root, as an unprivileged user") {
    test::temp_dir dir;
    const std::string image = dir / "pi.img";
    make_pi_image(image, dir);
    test::write(dir / "graft.json", good_json);
    auto r = as_nobody(dir, {tool, "write", "--image", image, "--graft-json", dir / "graft.json", "--overlay", overlay});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);

    auto boot = test::run({"mtype", "-i", image + "@@" + std::to_string(2048 * 512), "::graft.json"});
    CHECK(boot.output == good_json);
    auto cmdline = test::run({"mtype", "-i", image + "@@" + std::to_string(2048 * 512), "::cmdline.txt"});
    CHECK(cmdline.output == "console=serial0,115200 root=PARTUUID=0001-02 rootwait\n");  // untouched

    // The agent binary, byte for byte, executable and root's; the unit enabled through its wants-symlink.
    test::run({"debugfs", "-R", "dump /usr/bin/graft-agent " + dir / "agent-copy",
               image + "?offset=" + std::to_string((2048 + 16 * 2048) * 512)});
    CHECK(proto::sha256_hex(test::read(dir / "agent-copy")) == proto::sha256_hex(test::read(overlay + "/usr/bin/graft-agent")));
    const std::string stat = debugfs(image, "stat /usr/bin/graft-agent");
    CHECK_THAT(stat, Catch::Contains("Mode:  0755") && Catch::Contains("User:     0") && Catch::Contains("Group:     0"));
    CHECK_THAT(debugfs(image, "stat /etc/systemd/system/multi-user.target.wants/graft-agent.service"),
               Catch::Contains("Type: symlink") && Catch::Contains("/lib/systemd/system/graft-agent.service"));
    CHECK_THAT(debugfs(image, "stat /etc/systemd/system/timers.target.wants/graft-agent-renew.timer"),
               Catch::Contains("Type: symlink") && Catch::Contains("/lib/systemd/system/graft-agent-renew.timer"));
    CHECK_THAT(debugfs(image, "cat /usr/lib/systemd/catalog/graft.catalog"), Catch::Contains("-- 84d4fceadd6f4cafa579995e017ca661"));
    CHECK_THAT(debugfs(image, "cat /etc/hostname"), Catch::Contains("raspberrypi"));  // the image's own files stay

    // Writing again replaces rather than fails or duplicates.
    r = as_nobody(dir, {tool, "write", "--image", image, "--graft-json", dir / "graft.json", "--overlay", overlay});
    CHECK(r.exit_code == 0);
    must({"e2fsck", "-n", "-f", image + "?offset=" + std::to_string((2048 + 16 * 2048) * 512)});
}

TEST_CASE("an image graft does not recognise, or a bad graft.json, is refused with the reason and left unchanged") {
    test::temp_dir dir;
    test::write(dir / "graft.json", good_json);
    struct bad_image {
        std::string name;
        std::string make;
        std::string words;
    };
    const std::vector<bad_image> cases{
        {"raw.img", "truncate -s 8M raw.img", "has no partition table"},
        {"root-only.img", "truncate -s 32M root-only.img && printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q root-only.img"
                          " && mkfs.ext4 -q -F -E offset=1048576 root-only.img 30M",
         "is not an image graft knows"},
        {"esp-root.img", "truncate -s 64M esp-root.img && printf 'label: gpt\\nstart=2048, size=16M, type=U, name=EFI\\nstart=, type=L, name=root\\n'"
                         " | sfdisk -q esp-root.img && mkfs.vfat --offset 2048 esp-root.img 16384 >/dev/null"
                         " && mkdir -p esp-rootfs/etc && mkfs.ext4 -q -F -d esp-rootfs -E offset=17825792 esp-root.img 40M",
         "has:\n  1: vfat, 16 MiB, named EFI\n  2: ext4, 46 MiB, named root\nNothing was written."},
        {"empty-parts.img", "truncate -s 32M empty-parts.img && printf 'label: dos\\nstart=2048, size=8M, type=c\\nstart=, type=83\\n'"
                            " | sfdisk -q empty-parts.img",
         "has:\n  1: no FAT or ext4 filesystem, 8 MiB\n  2: no FAT or ext4 filesystem, 23 MiB"}};
    for (const auto& c : cases) {
        must({"sh", "-c", "cd '" + dir.path().string() + "' && " + c.make});
        const std::string image = dir / c.name;
        const std::string before = proto::sha256_hex(test::read(image));
        auto r = as_nobody(dir, {tool, "write", "--image", image, "--graft-json", dir / "graft.json", "--overlay", overlay});
        INFO(c.name << ": " << r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains(image) && Catch::Contains(c.words));
        CHECK(proto::sha256_hex(test::read(image)) == before);
    }

    const std::string image = dir / "pi.img";
    make_pi_image(image, dir);
    const std::string before = proto::sha256_hex(test::read(image));
    test::write(dir / "bad.json", R"({"coordinator": "https://10.0.2.2:8443", "ca_pin": "sha256:nope", "enrollment_token": "t"})");
    auto r = as_nobody(dir, {tool, "write", "--image", image, "--graft-json", dir / "bad.json", "--overlay", overlay});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(dir / "bad.json") && Catch::Contains("field 'ca_pin'"));
    CHECK(proto::sha256_hex(test::read(image)) == before);
}

namespace {

// The root filesystem of an image: /etc, and what its boot loader reads under /boot.
void make_rootfs(const test::temp_dir& dir, const std::string& name, const std::map<std::string, std::string>& files) {
    test::write(dir / (name + "/etc/os-release"), "ID=debian\n");
    for (const auto& [path, content] : files) test::write(dir / (name + "/" + path), content);
}

std::string debugfs_at(const std::string& image, std::uint64_t offset, const std::string& command) {
    return test::run({"debugfs", "-R", command, image + "?offset=" + std::to_string(offset)}).output;
}

// Writes graft.json and the overlay into `image` as nobody, then checks graft.json and the agent landed where the
// agent and systemd look and that e2fsck finds the root filesystem clean.
void check_written_to_root(const test::temp_dir& dir, const std::string& image, std::uint64_t root_offset, const std::string& family) {
    test::write(dir / "graft.json", good_json);
    auto r = as_nobody(dir, {tool, "write", "--image", image, "--graft-json", dir / "graft.json", "--overlay", overlay});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains(family) && Catch::Contains("/boot/graft.json in the root filesystem"));
    CHECK(debugfs_at(image, root_offset, "cat /boot/graft.json").find(good_json) != std::string::npos);
    CHECK_THAT(debugfs_at(image, root_offset, "stat /boot/graft.json"),
               Catch::Contains("Mode:  0600") && Catch::Contains("User:     0") && Catch::Contains("Group:     0"));
    CHECK_THAT(debugfs_at(image, root_offset, "stat /usr/bin/graft-agent"), Catch::Contains("Mode:  0755"));
    CHECK_THAT(debugfs_at(image, root_offset, "stat /etc/systemd/system/multi-user.target.wants/graft-agent.service"),
               Catch::Contains("Type: symlink"));
    // A second write replaces graft.json rather than failing.
    r = as_nobody(dir, {tool, "write", "--image", image, "--graft-json", dir / "graft.json", "--overlay", overlay});
    CHECK(r.exit_code == 0);
    must({"e2fsck", "-n", "-f", image + "?offset=" + std::to_string(root_offset)});
}

}  // namespace

TEST_CASE("an Armbian image, one ext4 root holding /boot, gets graft.json in /boot, readable by root only") {
    test::temp_dir dir;
    const std::string image = dir / "armbian.img";
    must({"truncate", "-s", "160M", image});
    must({"sh", "-c", "printf 'label: dos\\nstart=8192, type=83\\n' | sfdisk -q '" + image + "'"});
    make_rootfs(dir, "armbian", {{"boot/armbianEnv.txt", "verbosity=1\nrootdev=UUID=0000\nextraargs=\n"}, {"boot/boot.scr", "script"}});
    must({"mkfs.ext4", "-q", "-F", "-d", dir / "armbian", "-E", "offset=" + std::to_string(8192 * 512), image, "150M"});
    check_written_to_root(dir, image, 8192 * 512, "Armbian");
    CHECK_THAT(debugfs_at(image, 8192 * 512, "cat /boot/armbianEnv.txt"), Catch::Contains("extraargs="));  // untouched
}

TEST_CASE("a Jetson L4T image (GPT, the APP partition among raw ones, no FAT) gets graft.json in APP's /boot") {
    test::temp_dir dir;
    const std::string image = dir / "jetson.img";
    must({"truncate", "-s", "200M", image});
    // As the L4T SD card image: APP first, then partitions the boot firmware reads raw (no filesystem).
    must({"sh", "-c", "printf 'label: gpt\\nstart=40960, size=150M, type=L, name=APP\\nsize=1M, type=L, name=kernel\\n"
                      "size=1M, type=L, name=kernel-dtb\\nsize=8M, type=L, name=recovery\\n' | sfdisk -q '" + image + "'"});
    make_rootfs(dir, "app", {{"boot/extlinux/extlinux.conf", "TIMEOUT 30\nDEFAULT primary\n\nLABEL primary\n      LINUX /boot/Image\n"
                                                            "      APPEND ${cbootargs} root=/dev/mmcblk0p1 rw rootwait\n"}});
    must({"mkfs.ext4", "-q", "-F", "-d", dir / "app", "-E", "offset=" + std::to_string(40960 * 512), image, "150M"});
    check_written_to_root(dir, image, 40960 * 512, "Jetson L4T");

    auto r = test::run({tool, "inspect", "--image", image});
    CHECK_THAT(r.output, Catch::Contains("layout: Jetson L4T") && Catch::Contains("ext4  APP  <- /boot/graft.json, overlay") &&
                             Catch::Contains("-  kernel-dtb"));
}

TEST_CASE("Ubuntu's A/B boot and DietPi are Raspberry Pi layouts: graft.json goes on the firmware partition") {
    test::temp_dir dir;
    struct layout {
        std::string name, config_txt, extra_file, family;
    };
    for (const layout& l : {layout{"ubuntu-ab.img", "[all]\nos_prefix=current/\n[tryboot]\nos_prefix=new/\n", "current/cmdline.txt",
                                   "A/B boot"},
                            layout{"dietpi.img", "arm_64bit=1\n", "dietpi.txt", "DietPi"}}) {
        const std::string image = dir / l.name;
        make_pi_image(image, dir);
        test::write(dir / "config.txt", l.config_txt);
        test::write(dir / "extra", "x\n");
        const std::string fat = image + "@@" + std::to_string(2048 * 512);
        must({"mcopy", "-o", "-i", fat, dir / "config.txt", "::config.txt"});
        if (l.extra_file.find('/') != std::string::npos) must({"mmd", "-i", fat, "::current"});
        must({"mcopy", "-o", "-i", fat, dir / "extra", "::" + l.extra_file});
        test::write(dir / "graft.json", good_json);
        auto r = as_nobody(dir, {tool, "write", "--image", image, "--graft-json", dir / "graft.json", "--overlay", overlay});
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains(l.family) && Catch::Contains("/graft.json on the FAT partition 1"));
        CHECK(test::run({"mtype", "-i", fat, "::graft.json"}).output == good_json);
    }
    CHECK_THAT(test::run({tool, "inspect", "--image", dir / "ubuntu-ab.img"}).output, Catch::Contains("os_prefix=current/"));
}

TEST_CASE("an image as downloaded (.img.xz) is decompressed to the output named, and the download is left as it was") {
    test::temp_dir dir;
    make_pi_image(dir / "pi.img", dir);
    must({"xz", "-0", "-T1", dir / "pi.img"});
    const std::string xz = dir / "pi.img.xz", before = proto::sha256_hex(test::read(xz));
    test::write(dir / "graft.json", good_json);

    // Without --output: the exact command to run instead, and nothing written.
    auto r = as_nobody(dir, {tool, "write", "--image", xz, "--graft-json", dir / "graft.json"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("is compressed") && Catch::Contains("xz -dk " + xz));

    r = as_nobody(dir, {tool, "write", "--image", xz, "--graft-json", dir / "graft.json", "--overlay", overlay, "--output", dir / "node.img"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(proto::sha256_hex(test::read(xz)) == before);
    CHECK(test::run({"mtype", "-i", dir / "node.img" + "@@" + std::to_string(2048 * 512), "::graft.json"}).output == good_json);

    // An output that exists is never overwritten; a broken download leaves no output behind.
    const std::string written = proto::sha256_hex(test::read(dir / "node.img"));
    r = as_nobody(dir, {tool, "write", "--image", xz, "--graft-json", dir / "graft.json", "--output", dir / "node.img"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(dir / "node.img") && Catch::Contains("already exists"));
    CHECK(proto::sha256_hex(test::read(dir / "node.img")) == written);
    test::write(dir / "broken.img.xz", test::read(xz).substr(0, 4096));
    r = as_nobody(dir, {tool, "write", "--image", dir / "broken.img.xz", "--graft-json", dir / "graft.json", "--output", dir / "b.img"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("cannot decompress " + dir / "broken.img.xz"));
    CHECK_FALSE(std::filesystem::exists(dir / "b.img"));
    CHECK_FALSE(std::filesystem::exists(dir / "b.img.graft-image-partial"));

    // An unknown layout inside the .xz: refused, and no output left.
    must({"sh", "-c", "cd '" + dir.path().string() + "' && truncate -s 16M blank.img && xz -0 blank.img"});
    r = as_nobody(dir, {tool, "write", "--image", dir / "blank.img.xz", "--graft-json", dir / "graft.json", "--output", dir / "c.img"});
    CHECK(r.exit_code == 1);
    CHECK_FALSE(std::filesystem::exists(dir / "c.img"));
}
