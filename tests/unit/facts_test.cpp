#include "agent/system/facts.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

using namespace graft;

TEST_CASE("facts are read under the root: machine-id, Pi device tree, os-release, hostname") {
    test::temp_dir root;
    test::write(root / "etc/machine-id", std::string(32, 'f') + "\n");
    test::write(root / "etc/hostname", "raspberrypi\n");
    test::write(root / "etc/os-release", "NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n");
    // The Pi firmware's device-tree strings end in NUL.
    test::write(root / "proc/device-tree/model", std::string("Raspberry Pi 4 Model B Rev 1.4") + '\0');
    test::write(root / "proc/device-tree/serial-number", std::string("10000000abcdef01") + '\0');
    auto f = agent::gather_facts(root.path().string());
    CHECK(f.machine_id == std::string(32, 'f'));
    CHECK(f.hostname == "raspberrypi");
    CHECK(f.os == "Debian GNU/Linux 12 (bookworm)");
    CHECK(f.model == "Raspberry Pi 4 Model B Rev 1.4");
    CHECK(f.serial == "10000000abcdef01");
    CHECK_FALSE(f.arch.empty());
    CHECK_FALSE(f.kernel.empty());
    // What gather_facts produces is what the wire accepts.
    CHECK_NOTHROW(proto::hardware_facts::from_json(f.to_json()));
}

TEST_CASE("an x86 box is described from DMI") {
    test::temp_dir root;
    test::write(root / "etc/machine-id", std::string(32, '1') + "\n");
    test::write(root / "sys/class/dmi/id/product_name", "OptiPlex 7040\n");
    test::write(root / "sys/class/dmi/id/product_serial", "ABC1234\n");
    auto f = agent::gather_facts(root.path().string());
    CHECK(f.model == "OptiPlex 7040");
    CHECK(f.serial == "ABC1234");
}

TEST_CASE("a missing or malformed machine-id is an error naming the file and the fix") {
    test::temp_dir root;
    CHECK_THROWS_WITH(agent::gather_facts(root.path().string()),
                      Catch::Contains(root / "etc/machine-id") && Catch::Contains("systemd-machine-id-setup"));
    test::write(root / "etc/machine-id", "uninitialized\n");
    CHECK_THROWS_WITH(agent::gather_facts(root.path().string()), Catch::Contains("32 lowercase hex"));
}
