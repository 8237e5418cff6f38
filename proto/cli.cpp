#include "proto/cli.hpp"

#include "proto/version.hpp"

#include <charconv>
#include <iostream>
#include <sstream>

namespace graft::proto {

cli_args::cli_args(const std::vector<std::string>& args, const std::set<std::string>& with_value,
                   const std::set<std::string>& switches) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (!a.starts_with("--") || a.size() == 2) throw usage_error("unexpected argument '" + a + "'");
        std::string name = a.substr(2), value;
        bool inline_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inline_value = true;
        }
        if (switches.contains(name)) {
            if (inline_value) throw usage_error("--" + name + " takes no value");
            switches_.insert(name);
        } else if (with_value.contains(name)) {
            if (!inline_value) {
                if (i + 1 >= args.size()) throw usage_error("--" + name + " needs a value");
                value = args[++i];
            }
            if (values_.contains(name)) throw usage_error("--" + name + " is given twice");
            values_[name] = value;
        } else {
            throw usage_error("unknown option --" + name);
        }
    }
}

std::optional<std::string> cli_args::value(const std::string& flag) const {
    auto it = values_.find(flag);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

std::string cli_args::required(const std::string& flag) const {
    auto v = value(flag);
    if (!v || v->empty()) throw usage_error("--" + flag + " is required");
    return *v;
}

bool cli_args::has(const std::string& flag) const { return switches_.contains(flag); }

long long cli_args::number(const std::string& flag, long long fallback, long long min, long long max) const {
    auto v = value(flag);
    if (!v) return fallback;
    long long n = 0;
    auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc{} || ptr != v->data() + v->size() || n < min || n > max)
        throw usage_error("--" + flag + " must be a whole number from " + std::to_string(min) + " to " +
                          std::to_string(max) + ", got '" + *v + "'");
    return n;
}

std::vector<std::string> split_words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::vector<std::string> split_list(std::string_view text, char separator) {
    std::vector<std::string> out;
    while (!text.empty()) {
        const auto at = text.find(separator);
        out.emplace_back(text.substr(0, at));
        text = at == std::string_view::npos ? "" : text.substr(at + 1);
    }
    return out;
}

int run_main(const std::string& program, const char* usage, const std::vector<std::string>& args,
             const std::function<int(const std::string&, const std::vector<std::string>&)>& dispatch,
             const std::map<std::string, const char*>& command_usages) {
    if (args.empty()) {
        std::cerr << usage;
        return 2;
    }
    const std::string& command = args[0];
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    try {
        if (command == "help" || command == "--help" || command == "-h") {
            std::cout << usage;
            return 0;
        }
        if (command == "--version") {
            std::cout << program << " " << graft_version << "\n";
            return 0;
        }
        const auto own = command_usages.find(command);
        for (const auto& a : rest)
            if (a == "--help" || a == "-h") {
                std::cout << (own != command_usages.end() ? own->second : usage);
                return 0;
            }
        return dispatch(command, rest);
    } catch (const usage_error& e) {
        std::cerr << program << " " << command << ": " << e.what() << "\n"
                  << "Run `" << program << (command_usages.contains(command) ? " " + command : std::string())
                  << " --help` for " << (command_usages.contains(command) ? "its" : "the commands and their")
                  << " options.\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << program << " " << command << ": " << e.what() << "\n";
        return 1;
    }
}

}  // namespace graft::proto
