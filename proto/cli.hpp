#pragma once
// Command-line parsing shared by graft-agent and graft-coordinator: `--flag VALUE`, `--flag=VALUE` and boolean
// `--flag`, checked against the flags a command declares, so a typo is an error that names it.

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace graft::proto {

// A command-line mistake; main prints it with the command's usage and exits 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class cli_args {
public:
    // `with_value` and `switches` list the flags this command accepts, without their dashes.
    cli_args(const std::vector<std::string>& args, const std::set<std::string>& with_value,
             const std::set<std::string>& switches);

    std::optional<std::string> value(const std::string& flag) const;
    std::string required(const std::string& flag) const;
    bool has(const std::string& flag) const;
    // A positive whole number, or `fallback` when the flag is absent.
    long long number(const std::string& flag, long long fallback, long long min, long long max) const;

private:
    std::map<std::string, std::string> values_;
    std::set<std::string> switches_;
};

// Splits a command given as one string ("kubeadm token create --ttl 15m") on white space. No quoting: a program
// path with spaces in it cannot be given this way.
std::vector<std::string> split_words(const std::string& text);

// Splits a flag's list on `separator`, keeping empty entries (so "a,,b" can be refused for its empty one).
std::vector<std::string> split_list(std::string_view text, char separator);

// What both programs do around their subcommands: usage on no arguments (exit 2), help and --version, --help after
// any command, and errors turned into exit codes: a usage_error is 2 (with a pointer to --help), any other exception
// is 1. `dispatch` gets the command and its arguments and throws usage_error for a command it does not know. A command
// with its own text in `command_usages` shows that for --help, and points there after a usage error.
int run_main(const std::string& program, const char* usage, const std::vector<std::string>& args,
             const std::function<int(const std::string& command, const std::vector<std::string>& rest)>& dispatch,
             const std::map<std::string, const char*>& command_usages = {});

}  // namespace graft::proto
