// graft-image against real disk images made here the way a Raspberry Pi OS image is laid out (an MBR with a FAT
// boot partition holding cmdline.txt, then an ext4 root), read back with mtools and debugfs — as an unprivileged
// user, since the tool must need no root.
#include "proto/crypto.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

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
    CHECK(proto::sha256_hex(test::read(dir / "agent-copy")) == proto::sha256_hex(test::read(GRAFT_AGENT_BIN)));
    const std::string stat = debugfs(image, "stat /usr/bin/graft-agent");
    CHECK_THAT(stat, Catch::Contains("Mode:  0755") && Catch::Contains("User:     0") && Catch::Contains("Group:     0"));
    CHECK_THAT(debugfs(image, "stat /etc/systemd/system/multi-user.target.wants/graft-agent.service"),
               Catch::Contains("Type: symlink") && Catch::Contains("/lib/systemd/system/graft-agent.service"));
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
         "needs a FAT boot partition followed by an ext4 root partition, and has 1: ext4"},
        {"empty-parts.img", "truncate -s 32M empty-parts.img && printf 'label: dos\\nstart=2048, size=8M, type=c\\nstart=, type=83\\n'"
                            " | sfdisk -q empty-parts.img",
         "has 1: unknown, 2: unknown"}};
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
