#include "support/etcd_cluster.hpp"

#include "proto/https_client.hpp"
#include "proto/tls.hpp"

#include <csignal>
#include <random>
#include <thread>

namespace graft::test {

namespace {

// The certificates as kubeadm makes them for its etcd: the members' serving certificate is for client
// authentication too (etcd's gRPC gateway dials its own member with it), the client's for clients only.
void write_identity(const temp_dir& dir) {
    const auto openssl = [&](std::vector<std::string> argv) {
        argv.insert(argv.begin(), "openssl");
        auto r = run(argv);
        if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.output);
    };
    const std::vector<std::string> p256{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};
    auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
        a.insert(a.end(), b.begin(), b.end());
        return a;
    };
    openssl(with({"req", "-x509", "-days", "2", "-subj", "/CN=graft test etcd CA", "-keyout", dir / "ca.key", "-out",
                  dir / "ca.crt"}, p256));
    for (const auto& [name, usage] : std::vector<std::pair<std::string, std::string>>{
             {"server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"},
             {"client", "extendedKeyUsage=clientAuth\n"}}) {
        write(dir / (name + ".ext"), usage);
        openssl(with({"req", "-subj", "/CN=graft-" + name, "-keyout", dir / (name + ".key"), "-out", dir / (name + ".csr")}, p256));
        openssl({"x509", "-req", "-days", "2", "-in", dir / (name + ".csr"), "-CA", dir / "ca.crt", "-CAkey", dir / "ca.key",
                 "-CAcreateserial", "-extfile", dir / (name + ".ext"), "-out", dir / (name + ".crt")});
    }
}

}  // namespace

etcd_cluster::etcd_cluster(int count) {
    write_identity(dir_);
    for (int i = 0; i < count; ++i) {
        member m;
        m.name = "m" + std::to_string(i + 1);
        m.client_port = free_port();
        m.peer_port = free_port();
        initial_cluster_ += (i ? "," : "") + m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
        members_.push_back(std::move(m));
    }
    for (int i = 0; i < count; ++i) launch(i, true);
    for (int i = 0; i < count; ++i)
        if (!eventually([&] { return healthy(i); }, std::chrono::seconds(30)))
            throw std::runtime_error("etcd member " + members_[i].name + " did not become healthy; its log: " +
                                     read(dir_ / (members_[i].name + ".log")));
}

etcd_cluster::~etcd_cluster() = default;

void etcd_cluster::launch(int index, bool fresh) {
    auto& m = members_[index];
    const std::string client = "https://127.0.0.1:" + std::to_string(m.client_port);
    const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
    std::vector<std::string> argv{(unpacked_package("etcd-server_amd64") / "usr/bin/etcd").string(),
                                  "--name", m.name, "--data-dir", dir_ / (m.name + ".data"),
                                  "--listen-client-urls", client, "--advertise-client-urls", client,
                                  "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                  "--initial-cluster", initial_cluster_, "--initial-cluster-token", dir_.path().filename().string(),
                                  "--initial-cluster-state", fresh ? "new" : "existing",
                                  "--cert-file", dir_ / "server.crt", "--key-file", dir_ / "server.key",
                                  "--client-cert-auth", "--trusted-ca-file", ca_file(),
                                  // No metrics or debug listeners beyond the client port, and quiet logs.
                                  "--log-level", "warn", "--logger", "zap"};
    m.process = std::make_unique<child>(argv, dir_ / (m.name + ".log"));
}

std::vector<std::string> etcd_cluster::endpoints() const {
    std::vector<std::string> out;
    for (const auto& m : members_) out.push_back("https://127.0.0.1:" + std::to_string(m.client_port));
    return out;
}

std::string etcd_cluster::endpoints_flag() const {
    std::string out;
    for (const auto& e : endpoints()) out += (out.empty() ? "" : ",") + e;
    return out;
}

bool etcd_cluster::healthy(int index) const {
    try {
        auto tls = proto::client_tls::trusting(read(ca_file()));
        tls->use_identity(read(cert_file()), read(key_file()));
        auto r = proto::https_call_sync(tls->context(), {"127.0.0.1", std::to_string(members_[index].client_port)},
                                        boost::beast::http::verb::get, "/health", "", std::chrono::seconds(2));
        return r.status == 200 && r.body.find("\"true\"") != std::string::npos;
    } catch (const std::exception&) {
        return false;
    }
}

void etcd_cluster::stop(int index) {
    auto& m = members_[index];
    m.process->signal(SIGTERM);
    if (m.process->wait(std::chrono::seconds(20)) == -1) m.process->signal(SIGKILL);
    m.process->wait(std::chrono::seconds(5));
}

void etcd_cluster::kill9(int index) {
    members_[index].process->signal(SIGKILL);
    members_[index].process->wait(std::chrono::seconds(5));
}

void etcd_cluster::start(int index) {
    launch(index, false);
    if (!eventually([&] { return healthy(index); }, std::chrono::seconds(30)))
        throw std::runtime_error("etcd member " + members_[index].name + " did not come back");
}

etcd_cluster& shared_etcd() {
    static etcd_cluster cluster(1);
    return cluster;
}

std::string unique_etcd_prefix() {
    static std::mt19937_64 random{std::random_device{}()};
    return "/graft-test/" + std::to_string(random()) + "/";
}

}  // namespace graft::test
