#pragma once
// graft.json: what the operator puts on a node's boot partition, made by `graft-coordinator boot-config`.
//
// The boot partition is FAT: anyone with the SD card, or any user on the node, can read it. So on first read the
// agent moves the enrollment token off it: the whole file is saved to ROOT/var/lib/graft/graft.json (0600), then the
// boot copy is rewritten without the token, keeping the coordinator's URL and CA pin for the operator to read. A boot
// copy that holds a token again (the operator wrote a fresh one) replaces the saved copy the same way.

#include <string>
#include <vector>

namespace graft::agent {

class state_store;

struct boot_config {
    std::string coordinator;       // https://HOST:PORT
    // Every coordinator of a fleet served by several (coordinator among them): the agent moves along the list when
    // the one it talks to cannot answer. Empty with one coordinator.
    std::vector<std::string> coordinators = {};
    std::string ca_pin;            // sha256:<hex> of the coordinator CA's SubjectPublicKeyInfo
    std::string enrollment_token;  // a secret: never logged; empty in a boot copy the agent has taken it from

    // Strict: a missing, unknown or mistyped field is an error naming the file and the field. A boot copy whose
    // token was moved off may lack enrollment_token when `token_required` is false.
    static boot_config load(const std::string& path, bool token_required = true);
    std::string to_json_text() const;
    // coordinator, then the others of `coordinators`: the order the agent tries them in.
    std::vector<std::string> urls() const;
};

// Where the agent looks for graft.json under the node's root, in order: Raspberry Pi OS bookworm and Ubuntu mount
// the boot partition at /boot/firmware, older images at /boot, and an unmounted Pi boot partition may be
// automounted at /media/mmcblk0p1.
inline constexpr const char* boot_config_places[] = {"/boot/firmware/graft.json", "/boot/graft.json",
                                                     "/media/mmcblk0p1/graft.json"};

// The node's graft.json: from `explicit_path` when given, else the first of boot_config_places under `root`. The
// token, where the boot copy still has one, is moved into the state directory as described above.
boot_config take_boot_config(const std::string& root, const std::string& explicit_path, const state_store& store);

}  // namespace graft::agent
