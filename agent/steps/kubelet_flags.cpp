#include "agent/steps/kubelet_flags.hpp"

#include "agent/steps/text.hpp"

namespace graft::agent {
namespace {

constexpr std::string_view key = "KUBELET_EXTRA_ARGS=";

// The KUBELET_EXTRA_ARGS line: where it is and its words (the last such line wins, as in a shell).
struct args_line {
    std::optional<std::size_t> index;
    std::vector<std::string> words;
};

args_line find(const text::lines& lines) {
    args_line out;
    for (std::size_t i = 0; i < lines.items.size(); ++i) {
        if (!lines.items[i].starts_with(key)) continue;
        std::string value = lines.items[i].substr(key.size());
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
            value = value.substr(1, value.size() - 2);
        out.index = i;
        out.words = text::words(value);
    }
    return out;
}

}  // namespace

std::string kubelet_flags_file(const host& h) {
    return h.exists("/etc/redhat-release") || (h.exists("/etc/sysconfig") && !h.exists("/etc/default"))
               ? "/etc/sysconfig/kubelet"
               : "/etc/default/kubelet";
}

std::optional<std::string> kubelet_flag(const std::string& content, const std::string& name) {
    const std::string prefix = "--" + name + "=";
    std::optional<std::string> value;
    for (const auto& w : find(text::lines::split(content)).words)
        if (w.starts_with(prefix)) value = w.substr(prefix.size());
    return value;
}

std::string with_kubelet_flag(const std::string& content, const std::string& name, const std::string& value) {
    auto lines = text::lines::split(content);
    auto line = find(lines);
    const std::string prefix = "--" + name + "=";
    std::vector<std::string> words;
    for (auto& w : line.words)
        if (!w.starts_with(prefix)) words.push_back(w);
    words.push_back(prefix + value);
    std::string joined;
    for (const auto& w : words) joined += (joined.empty() ? "" : " ") + w;
    const std::string new_line = std::string(key) + "\"" + joined + "\"";
    if (line.index) {
        lines.items[*line.index] = new_line;
    } else {
        lines.trailing_newline = true;
        lines.items.push_back(new_line);
    }
    return lines.join();
}

}  // namespace graft::agent
