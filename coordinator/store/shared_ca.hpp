#pragma once
// What coordinators that share an etcd registry share besides the nodes: the fleet's CA, and the list of their URLs.
//
// The CA: Every coordinator signs node certificates, so every
// one needs the CA's key; agents pin the CA, so there is one CA for the fleet. The first coordinator's `init` makes the
// CA and keeps it in etcd sealed (AES-256-GCM) under a random certificate key that never goes to etcd: init writes
// it to the state directory, and the operator copies that file to the next coordinator's init. etcd, its backups and
// its other clients (the API server) so hold the CA only in a form they cannot open; the key to it lives on the
// machines that hold the CA already. This is kubeadm's `init --upload-certs` / `join --certificate-key`, with a file
// instead of a command-line argument, which other users could read in the process list.

#include "coordinator/enroll/authority.hpp"
#include "coordinator/store/etcd.hpp"

#include <optional>
#include <string>
#include <vector>

namespace graft::coordinator {

// Whether a CA is in etcd under `prefix` already: its certificate, PEM.
std::optional<std::string> shared_ca_certificate(etcd_client& etcd, const std::string& prefix);

// Seals the CA into etcd under `prefix` and returns the certificate key (64 hex digits). Throws when a CA is there
// already (another coordinator's init got there first).
std::string share_ca(etcd_client& etcd, const std::string& prefix, const certificate_authority& ca);

// Opens the CA in etcd with the certificate key and writes it into `dir`. Throws, saying what to check, when there is
// none or the key does not open it.
certificate_authority adopt_shared_ca(etcd_client& etcd, const std::string& prefix, const std::string& dir,
                                      const std::string& certificate_key);

// Adds this coordinator's URL to the fleet's list (PREFIX/coordinators/URL), which boot-config writes into graft.json
// for agents to fail over along. Kept until an operator removes it (docs/ha.md), so a coordinator that is down when a
// card is flashed is still on it.
void announce_coordinator(etcd_client& etcd, const std::string& prefix, const std::string& url);
// Every coordinator's URL, in key order.
std::vector<std::string> fleet_coordinators(etcd_client& etcd, const std::string& prefix);

}  // namespace graft::coordinator
