#include "coordinator/join/backend.hpp"

#include "proto/pki.hpp"
#include "proto/subprocess.hpp"
#include "proto/time.hpp"

#include <sstream>
#include <system_error>

namespace graft::coordinator {
namespace {

class command_backend final : public join_backend {
public:
    command_backend(std::vector<std::string> argv, std::chrono::seconds timeout)
        : argv_(std::move(argv)), timeout_(timeout) {
        for (std::size_t i = 0; i + 1 < argv_.size(); ++i)
            if (argv_[i] == "--ttl") ttl_ = proto::parse_duration(argv_[i + 1]);
    }

    proto::join_spec issue(const node_record& node, const proto::join_request&) override {
        const auto issued = proto::clock::now();
        proto::process_result run;
        try {
            run = proto::run_process(argv_, timeout_);
        } catch (const std::system_error& e) {
            throw join_error(std::string("join command: ") + e.what());
        }
        if (run.timed_out)
            throw join_error("join command '" + argv_[0] + "' did not finish within " + std::to_string(timeout_.count()) + "s");
        if (run.exit_code != 0)
            throw join_error("join command '" + argv_[0] + "' exited with status " + std::to_string(run.exit_code) + ": " +
                             proto::redact_tokens(last_output_line(run.output)));
        auto line = parse_kubeadm_join_output(run.output);
        proto::join_spec spec;
        spec.node_name = node.name;
        spec.api_server_endpoint = std::move(line.api_server_endpoint);
        spec.token = std::move(line.token);
        spec.ca_cert_hashes = std::move(line.ca_cert_hashes);
        if (ttl_) spec.expires_at = proto::to_rfc3339(issued + *ttl_);
        return spec;
    }

private:
    std::vector<std::string> argv_;
    std::chrono::seconds timeout_;
    std::optional<std::chrono::seconds> ttl_;
};

}  // namespace

std::string last_output_line(std::string_view output) {
    std::string last;
    std::size_t start = 0;
    while (start <= output.size()) {
        const auto nl = output.find('\n', start);
        std::string line(output.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) last = line;
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    return last;
}

kubeadm_join_line parse_kubeadm_join_output(std::string_view output) {
    // kubeadm may print warnings before the command, and `kubeadm init` wraps it with backslash-newlines.
    std::string text(output);
    for (std::size_t at; (at = text.find("\\\n")) != std::string::npos;) text.replace(at, 2, " ");
    std::istringstream lines(text);
    std::string line;
    std::vector<std::string> words;
    while (std::getline(lines, line)) {
        std::istringstream in(line);
        std::vector<std::string> w;
        for (std::string word; in >> word;) w.push_back(word);
        if (w.size() >= 2 && w[0] == "kubeadm" && w[1] == "join") {
            if (!words.empty()) throw join_error("the join command printed more than one 'kubeadm join' line");
            words = std::move(w);
        }
    }
    if (words.empty())
        throw join_error("the join command printed no 'kubeadm join HOST:PORT --token ... "
                         "--discovery-token-ca-cert-hash sha256:...' line");

    kubeadm_join_line out;
    for (std::size_t i = 2; i < words.size(); ++i) {
        const std::string& w = words[i];
        auto value = [&](const char* flag) -> std::string {
            if (i + 1 >= words.size()) throw join_error(std::string("the kubeadm join line ends after ") + flag);
            return words[++i];
        };
        if (w == "--token") out.token = value("--token");
        else if (w == "--discovery-token-ca-cert-hash") out.ca_cert_hashes.push_back(value("--discovery-token-ca-cert-hash"));
        else if (w == "--control-plane" || w == "--certificate-key")
            throw join_error("the join command printed a control-plane join; graft joins worker nodes");
        else if (w.starts_with("--")) throw join_error("the kubeadm join line has a flag graft does not pass on: " + w);
        else if (out.api_server_endpoint.empty()) out.api_server_endpoint = w;
        else throw join_error("the kubeadm join line names more than one API server endpoint");
    }
    if (out.api_server_endpoint.empty() || out.api_server_endpoint.find(':') == std::string::npos)
        throw join_error("the kubeadm join line has no API server endpoint HOST:PORT");
    if (!proto::is_bootstrap_token(out.token))
        throw join_error("the kubeadm join line has no --token of the form [a-z0-9]{6}.[a-z0-9]{16}");
    if (out.ca_cert_hashes.empty())
        throw join_error("the kubeadm join line has no --discovery-token-ca-cert-hash; graft never joins unpinned");
    for (const auto& h : out.ca_cert_hashes)
        if (!proto::is_spki_pin(h)) throw join_error("the kubeadm join line has a CA hash that is not sha256:<64 hex>: " + h);
    return out;
}

std::unique_ptr<join_backend> make_command_backend(std::vector<std::string> argv, std::chrono::seconds timeout) {
    if (argv.empty()) throw std::invalid_argument("the command join backend needs a command");
    return std::make_unique<command_backend>(std::move(argv), timeout);
}

}  // namespace graft::coordinator
