#pragma once
// The registry a unit test runs against. The tests tagged [registry] run twice (tests/CMakeLists.txt): on a SQLite
// file in the test's directory, and with GRAFT_TEST_REGISTRY=etcd on a real etcd (one member for the whole test
// process, keys under a prefix of each registry's own). The registry must behave the same on both.

#include "coordinator/status/journal_requests.hpp"
#include "coordinator/store/etcd.hpp"
#include "coordinator/store/etcd_presence.hpp"
#include "coordinator/store/registry.hpp"

#include "support/etcd_cluster.hpp"

#include <cstdlib>

namespace graft::test {

inline bool registry_on_etcd() {
    const char* which = std::getenv("GRAFT_TEST_REGISTRY");
    return which && std::string_view(which) == "etcd";
}

// A place for one registry, opened as often as a test likes: the same file, or the same etcd prefix.
struct registry_place {
    temp_dir dir;
    std::string prefix = unique_etcd_prefix();

    std::unique_ptr<coordinator::node_registry> open() const {
        if (!registry_on_etcd()) return coordinator::open_sqlite_registry(dir / "registry.db");
        return coordinator::open_etcd_registry(etcd_options(), prefix);
    }
    // Operators' journal requests as a coordinator on this registry keeps them: in memory beside SQLite, in etcd.
    std::unique_ptr<coordinator::journal_requests> open_journal_requests() const {
        if (!registry_on_etcd()) return std::make_unique<coordinator::local_journal_requests>();
        return coordinator::open_etcd_journal_requests(etcd_options(), prefix);
    }
    static coordinator::etcd_options etcd_options() {
        auto& etcd = shared_etcd();
        return {etcd.endpoints(), etcd.ca_file(), etcd.cert_file(), etcd.key_file()};
    }
};

}  // namespace graft::test
