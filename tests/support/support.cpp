#include "support/support.hpp"

#include "proto/crypto.hpp"
#include "proto/json_fields.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace graft::test {

temp_dir::temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "graft-test.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write(const std::string& path, const std::string& content) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path);
}

unsigned file_mode(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + path);
    return st.st_mode & 07777;
}

unsigned short free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind failed");
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

namespace {

std::vector<std::string> environment_with(const std::map<std::string, std::string>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
        std::string entry(*e);
        if (!extra.contains(entry.substr(0, entry.find('=')))) env.push_back(entry);
    }
    for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
    return env;
}

}  // namespace

proto::process_result run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                          std::chrono::seconds timeout) {
    // proto::run_process passes this process's environment on, so the extra variables go through `env`.
    std::vector<std::string> full{"env"};
    for (const auto& [k, v] : env) full.push_back(k + "=" + v);
    full.insert(full.end(), argv.begin(), argv.end());
    return proto::run_process(full, timeout);
}

child::child(const std::vector<std::string>& argv, const std::string& log_path, const std::map<std::string, std::string>& env) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    auto env_strings = environment_with(env);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
}

child::~child() {
    if (!reaped_) {
        ::kill(pid_, SIGKILL);
        wait(std::chrono::seconds(10));
    }
}

void child::signal(int sig) { ::kill(pid_, sig); }

int child::wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!reaped_) {
        pid_t r = ::waitpid(pid_, &status_, WNOHANG);
        if (r == pid_) {
            reaped_ = true;
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    return 128 + WTERMSIG(status_);
}

bool child::running() { return wait(std::chrono::milliseconds(0)) == -1; }

std::string random_machine_id() { return proto::random_hex(16); }

void copy_host_fixture(const std::string& name, const std::string& dest) {
    fs::copy(std::string(GRAFT_FIXTURES_DIR) + "/hosts/" + name, dest,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

fs::path unpacked_package(const std::string& name) {
    fs::path dir = fs::path(GRAFT_DEBS_DIR) / name;
    if (!fs::exists(dir / ".unpacked"))
        throw std::runtime_error(dir.string() + " is missing: scripts/install-deps (scripts/unpack-debs) unpacks it");
    return dir;
}

void make_node_root(const std::string& root, const std::string& hostname) {
    write(root + "/etc/machine-id", random_machine_id() + "\n");
    write(root + "/etc/hostname", hostname + "\n");
    write(root + "/etc/resolv.conf", "nameserver 192.0.2.53\n");
}

coordinator_process::coordinator_process(std::vector<std::string> init_flags) : port_(free_port()) {
    std::vector<std::string> argv{GRAFT_COORDINATOR_BIN, "init", "--dir", state_dir(), "--advertise",
                                  "127.0.0.1:" + std::to_string(port_)};
    bool has_backend = false;
    for (const auto& f : init_flags) has_backend |= f.starts_with("--join");
    if (!has_backend) {
        argv.push_back("--join-backend");
        argv.push_back("kubeadm-cli");
        argv.push_back("--join-command");
        argv.push_back(std::string(GRAFT_FIXTURES_DIR) + "/fake-kubeadm token create --print-join-command --ttl 15m");
    }
    argv.insert(argv.end(), init_flags.begin(), init_flags.end());
    auto r = run(argv, env());
    if (r.exit_code != 0) throw std::runtime_error("graft-coordinator init failed: " + r.output);
    // init makes no enrollment token; the graft.json the tests use comes from boot-config, as an operator's would.
    boot_json_ = boot_config();
}

coordinator_process::~coordinator_process() = default;

std::map<std::string, std::string> coordinator_process::env() const {
    auto env = extra_env_;
    env["FAKE_KUBEADM_DIR"] = dir_ / "cluster";
    return env;
}

void coordinator_process::start() {
    std::vector<std::string> argv{GRAFT_COORDINATOR_BIN, "serve", "--config", config_path()};
    argv.insert(argv.end(), serve_flags_.begin(), serve_flags_.end());
    serve_ = std::make_unique<child>(argv, dir_ / ("coordinator-" + std::to_string(++starts_) + ".log"), env());
    for (int i = 0; i < 200; ++i) {
        if (curl(url() + "/healthz", {"--cacert", ca_path()}).status == 200) return;
        if (!serve_->running()) throw std::runtime_error("graft-coordinator serve exited: " + log());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("graft-coordinator did not answer /healthz within 10 s: " + log());
}

void coordinator_process::kill9() {
    serve_->signal(SIGKILL);
    serve_->wait(std::chrono::seconds(10));
}

void coordinator_process::stop() {
    serve_->signal(SIGTERM);
    serve_->wait(std::chrono::seconds(10));
}

std::string coordinator_process::boot_config(const std::vector<std::string>& flags) {
    std::vector<std::string> argv{GRAFT_COORDINATOR_BIN, "boot-config", "--config", config_path()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto r = run(argv);
    if (r.exit_code != 0) throw std::runtime_error("boot-config failed: " + r.output);
    return r.output.substr(r.output.find('{'), r.output.rfind('}') - r.output.find('{') + 1);
}

std::string coordinator_process::operator_credentials() const {
    const std::string path = dir_ / "operator.json";
    if (!fs::exists(path)) {
        auto r = run({GRAFT_COORDINATOR_BIN, "operator", "add", "test-operator", "--config", config_path(), "--out", path});
        if (r.exit_code != 0) throw std::runtime_error("operator add failed: " + r.output);
    }
    return path;
}

std::vector<std::string> coordinator_process::operator_identity() const {
    const std::string cert = dir_ / "operator.crt", key = dir_ / "operator.key";
    if (!fs::exists(key)) {
        const auto credentials = proto::parse_json(read(operator_credentials()));
        write(cert, credentials.at("certificate").get<std::string>());
        write(key, credentials.at("key").get<std::string>());
        fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    }
    return {"--cert", cert, "--key", key};
}

std::string coordinator_process::log() const {
    std::string all;
    for (int i = 1; i <= starts_; ++i) {
        try {
            all += read(dir_ / ("coordinator-" + std::to_string(i) + ".log"));
        } catch (const std::exception&) {
        }
    }
    return all;
}

kube_api_process::kube_api_process(const std::string& version) {
    process_ = std::make_unique<child>(std::vector<std::string>{GRAFT_TEST_KUBE_API_BIN, "--dir", api_dir(), "--version", version},
                                       dir_ / "api.log");
    if (!eventually([&] { return fs::exists(api_dir() + "/port"); }, std::chrono::seconds(10)))
        throw std::runtime_error("the Kubernetes API double did not start: " + read(dir_ / "api.log"));
    port_ = static_cast<unsigned short>(std::stoi(read(api_dir() + "/port")));
}

std::string kube_api_process::kubelet_healthz() const {
    return "http://127.0.0.1:" + std::to_string(std::stoi(read(api_dir() + "/kubelet-port"))) + "/healthz";
}

kube_api_process::answer kube_api_process::call(const std::string& method, const std::string& path,
                                                const std::string& body) const {
    std::vector<std::string> extra{"-X", method, "--cacert", api_dir() + "/ca.crt", "--cert", api_dir() + "/admin.crt",
                                   "--key", api_dir() + "/admin.key"};
    if (!body.empty()) extra.insert(extra.end(), {"-d", body});
    auto r = curl("https://" + endpoint() + path, extra);
    return {r.status, r.body};
}

std::vector<std::string> kube_api_process::bootstrap_secrets() const {
    auto r = call("GET", "/api/v1/namespaces/kube-system/secrets");
    if (r.status != 200) throw std::runtime_error("listing Secrets: " + r.body);
    std::vector<std::string> names;
    const auto list = proto::parse_json(r.body);
    for (const auto& s : list.at("items"))
        if (s.value("type", "") == "bootstrap.kubernetes.io/token") names.push_back(s["metadata"]["name"]);
    return names;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

curl_result curl(const std::string& url, const std::vector<std::string>& extra) {
    std::vector<std::string> argv{"curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    auto r = proto::run_process(argv, std::chrono::seconds(30));
    curl_result out;
    out.exit_code = r.exit_code;
    auto nl = r.output.rfind('\n');
    if (nl != std::string::npos) {
        try {
            out.status = std::stoi(r.output.substr(nl + 1));
        } catch (const std::exception&) {
        }
        out.body = r.output.substr(0, nl);
    } else {
        out.body = r.output;
    }
    return out;
}

}  // namespace graft::test
