#pragma once
// Helpers the tests share: temporary directories, real child processes, free loopback ports, and a real
// coordinator process set up the way an operator would (init, then serve).

#include "proto/subprocess.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace graft::test {

namespace fs = std::filesystem;

// A fresh directory, removed with everything in it when the object goes.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const fs::path& path() const { return path_; }
    std::string operator/(const std::string& name) const { return (path_ / name).string(); }

private:
    fs::path path_;
};

std::string read(const std::string& path);
void write(const std::string& path, const std::string& content);
unsigned file_mode(const std::string& path);

// A port on 127.0.0.1 that nothing listens on at the time of the call.
unsigned short free_port();

// Runs a program to completion (no shell), with extra environment variables set for it.
proto::process_result run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                          std::chrono::seconds timeout = std::chrono::seconds(60));

// A program running in the background, its stdout and stderr going to `log_path`. Killed (SIGKILL) on destruction.
class child {
public:
    child(const std::vector<std::string>& argv, const std::string& log_path, const std::map<std::string, std::string>& env = {});
    ~child();
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    void signal(int sig);
    // Waits for it to exit; its exit code (128 + signal when killed), or -1 when it is still running at the deadline.
    int wait(std::chrono::milliseconds timeout);
    bool running();
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = 0;
};

// A machine-id: 32 lowercase hex digits.
std::string random_machine_id();
// A writable copy of tests/fixtures/hosts/NAME at `dest` (symlinks copied as symlinks).
void copy_host_fixture(const std::string& name, const std::string& dest);
// A Debian package unpacked by scripts/unpack-debs, as DIR/PACKAGE_ARCH ("containerd_amd64"): the real programs and
// files the host-preparation tests check graft's edits against. Throws, naming the script, when it is not there.
std::filesystem::path unpacked_package(const std::string& name);
// A sandbox node root with etc/machine-id, etc/hostname and etc/resolv.conf, as a freshly flashed image has them.
void make_node_root(const std::string& root, const std::string& hostname = "raspberrypi");

// A real graft-coordinator: `init` in a temporary directory, then `serve` on 127.0.0.1.
class coordinator_process {
public:
    // Extra `init` flags after --dir and --advertise; the join backend defaults to the fake kubeadm.
    explicit coordinator_process(std::vector<std::string> init_flags = {});
    ~coordinator_process();

    void start();  // serve, and wait until /healthz answers
    void kill9();
    void stop();   // SIGTERM and wait

    const temp_dir& dir() const { return dir_; }
    std::string state_dir() const { return dir_ / "coordinator"; }
    std::string config_path() const { return state_dir() + "/config.json"; }
    std::string ca_path() const { return state_dir() + "/ca.crt"; }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
    unsigned short port() const { return port_; }
    // The graft.json of the token `boot-config` made right after `init`.
    const std::string& boot_json() const { return boot_json_; }
    // A new graft.json from `boot-config`.
    std::string boot_config(const std::vector<std::string>& flags = {});
    std::string log() const;
    std::map<std::string, std::string> env() const;  // FAKE_KUBEADM_DIR for the coordinator and agents, and add_env's
    // An operator's credentials file, made once with `operator add`, and its certificate and key as curl takes them
    // ({"--cert", FILE, "--key", FILE}): what the read endpoints ask for.
    std::string operator_credentials() const;
    std::vector<std::string> operator_identity() const;
    // An environment variable for `serve` (and env()), set before start().
    void add_env(const std::string& name, const std::string& value) { extra_env_[name] = value; }
    // `serve` flags after --config, set before start().
    void add_serve_flags(std::vector<std::string> flags) { serve_flags_ = std::move(flags); }

private:
    temp_dir dir_;
    unsigned short port_;
    std::string boot_json_;
    std::unique_ptr<child> serve_;
    int starts_ = 0;
    std::map<std::string, std::string> extra_env_;
    std::vector<std::string> serve_flags_;
};

// The Kubernetes API double (tests/support/kube_api_double.cpp) running in a temporary directory, on 127.0.0.1.
class kube_api_process {
public:
    explicit kube_api_process(const std::string& version = "v1.29.3");
    const temp_dir& dir() const { return dir_; }
    std::string kubeconfig() const { return dir_ / "api/admin.conf"; }
    std::string api_dir() const { return dir_ / "api"; }
    std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string kubelet_healthz() const;
    // An admin request (curl with the admin client certificate); the body parsed as JSON (null when empty).
    struct answer {
        int status = 0;
        std::string body;
    };
    answer call(const std::string& method, const std::string& path, const std::string& body = {}) const;
    // The names of the bootstrap-token Secrets in kube-system.
    std::vector<std::string> bootstrap_secrets() const;

private:
    temp_dir dir_;
    std::unique_ptr<child> process_;
    unsigned short port_ = 0;
};

// Polls `done` every 50 ms until it is true or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(20));

// curl as a real client: returns {HTTP status (0 when the connection failed), body}. `extra` goes before the URL.
struct curl_result {
    int exit_code = 0;
    int status = 0;
    std::string body;
};
curl_result curl(const std::string& url, const std::vector<std::string>& extra);

}  // namespace graft::test
