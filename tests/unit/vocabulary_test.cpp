#include "coordinator/join/backend_table.hpp"
#include "proto/flavours.hpp"
#include "proto/phases.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace graft::proto;

namespace {
constexpr phase all_phases[] = {phase::flashed, phase::booted,  phase::enrolled, phase::configuring, phase::rebooting,
                                phase::configured, phase::joining, phase::joined, phase::ready, phase::failed,
                                phase::pending_approval, phase::deleted, phase::denied};
}

TEST_CASE("every phase has one name that reads back as itself, and an unknown name is none") {
    for (phase p : all_phases) CHECK(phase_from_string(to_string(p)) == p);
    CHECK_FALSE(phase_from_string("Ready"));
    CHECK_FALSE(phase_from_string(""));
}

TEST_CASE("a node reports only its own progress, while readiness and deletion are the cluster's and decisions the coordinator's") {
    for (phase p : {phase::booted, phase::configuring, phase::rebooting, phase::configured, phase::joining, phase::joined,
                    phase::failed})
        CHECK(may_set(phase_source::node, p));
    for (phase p : {phase::ready, phase::deleted, phase::denied, phase::pending_approval, phase::flashed, phase::enrolled}) {
        INFO(std::string(to_string(p)));
        CHECK_FALSE(may_set(phase_source::node, p));
    }
    for (phase p : {phase::ready, phase::joined, phase::failed, phase::deleted}) CHECK(may_set(phase_source::cluster, p));
    CHECK_FALSE(may_set(phase_source::cluster, phase::denied));
    CHECK_FALSE(may_set(phase_source::cluster, phase::configuring));
    for (phase p : {phase::enrolled, phase::pending_approval, phase::denied}) CHECK(may_set(phase_source::coordinator, p));
    CHECK_FALSE(may_set(phase_source::coordinator, phase::ready));
}

TEST_CASE("a deleted, denied or waiting node cannot move itself, and its joined does not overwrite the cluster's word") {
    for (phase from : {phase::deleted, phase::denied, phase::pending_approval})
        for (phase to : {phase::configuring, phase::joined, phase::failed}) {
            INFO(std::string(to_string(from)) + " -> " + std::string(to_string(to)));
            CHECK_FALSE(may_move(from, to, phase_source::node, false));
        }
    CHECK_FALSE(may_move(phase::ready, phase::joined, phase_source::node, true));
    CHECK_FALSE(may_move(phase::joined, phase::joined, phase_source::node, true));  // NotReady stays
    CHECK(may_move(phase::joining, phase::joined, phase_source::node, false));
    CHECK(may_move(phase::ready, phase::configuring, phase_source::node, true));  // a node prepared again
    // The cluster and the coordinator are not bound by where the node is.
    CHECK(may_move(phase::deleted, phase::ready, phase_source::cluster, false));
    CHECK(may_move(phase::pending_approval, phase::denied, phase_source::coordinator, false));
}

TEST_CASE("each flavour is described once: its name, the shape of its token, whether it pins the cluster CA") {
    CHECK(flavour_names() == "kubeadm, k3s or k0s");
    for (flavour f : {flavour::kubeadm, flavour::k3s, flavour::k0s}) CHECK(flavour_from_string(to_string(f)) == f);
    CHECK_FALSE(flavour_from_string("rke2"));
    CHECK(traits(flavour::kubeadm).token_valid("abcdef.0123456789abcdef"));
    CHECK_FALSE(traits(flavour::kubeadm).token_valid("K10abc::abcdef.0123456789abcdef"));
    CHECK(traits(flavour::k3s).token_valid("K10abc::abcdef.0123456789abcdef"));
    CHECK_FALSE(traits(flavour::k3s).token_valid("abcdef.0123456789abcdef"));
    CHECK(traits(flavour::k0s).token_valid("H4sIAAAAAAAC/2yS"));
    CHECK_FALSE(traits(flavour::k0s).token_valid("two words"));
    CHECK(traits(flavour::kubeadm).pins_cluster_ca);
    CHECK_FALSE(traits(flavour::k3s).pins_cluster_ca);
}

TEST_CASE("each join backend names the flavour it hands out and what of config.json it reads") {
    using graft::coordinator::find_backend;
    CHECK(graft::coordinator::backend_names() == "kubeadm, k3s, k0s, kubeadm-cli or static");
    REQUIRE(find_backend("command"));
    CHECK(find_backend("command")->name == "kubeadm-cli");  // its old name
    CHECK_FALSE(find_backend("kind"));
    CHECK(find_backend("k3s")->flavour == flavour::k3s);
    CHECK(find_backend("k0s")->flavour == flavour::k0s);
    for (const char* kubeadm_flavoured : {"kubeadm", "kubeadm-cli", "static"})
        CHECK(find_backend(kubeadm_flavoured)->flavour == flavour::kubeadm);
    CHECK(find_backend("kubeadm")->needs_kubeconfig);
    CHECK_FALSE(find_backend("k0s")->needs_kubeconfig);
    CHECK(find_backend("static")->static_token);
}
