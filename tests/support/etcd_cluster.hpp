#pragma once
// A real etcd cluster for the tests: Debian's etcd-server (unpacked by scripts/unpack-debs), its members on
// 127.0.0.1 ports, clients over mutual TLS with a CA of the test's own, peers over plain HTTP on loopback. Members
// are stopped and started again by the tests; everything is killed when the object goes.

#include "support/support.hpp"

#include <memory>
#include <string>
#include <vector>

namespace graft::test {

class etcd_cluster {
public:
    // Starts `members` members and waits until every one answers.
    explicit etcd_cluster(int members = 3);
    ~etcd_cluster();

    std::vector<std::string> endpoints() const;  // https://127.0.0.1:PORT of each member
    std::string endpoints_flag() const;          // the same, comma-separated
    // The CA etcd's certificates chain to, and a client certificate and key it accepts.
    std::string ca_file() const { return dir_ / "ca.crt"; }
    std::string cert_file() const { return dir_ / "client.crt"; }
    std::string key_file() const { return dir_ / "client.key"; }

    void stop(int member);   // SIGTERM, and wait for it to exit
    void kill9(int member);
    void start(int member);  // again, with its data; waits until it answers
    // Whether the member answers its /health with true (it is up and its cluster has a leader).
    bool healthy(int member) const;

private:
    struct member {
        std::string name;
        unsigned short client_port = 0, peer_port = 0;
        std::unique_ptr<child> process;
    };
    void launch(int index, bool fresh);
    temp_dir dir_;
    std::vector<member> members_;
    std::string initial_cluster_;
};

// One single-member cluster for the whole test process, started at its first use: for the tests that need an etcd
// but not its failures. Each test takes keys under a prefix of its own.
etcd_cluster& shared_etcd();
std::string unique_etcd_prefix();

}  // namespace graft::test
