#include "agent/steps/text.hpp"

#include <sstream>

namespace graft::agent::text {

lines lines::split(const std::string& content) {
    lines out;
    out.trailing_newline = content.empty() || content.back() == '\n';
    std::size_t at = 0;
    while (at < content.size()) {
        auto nl = content.find('\n', at);
        if (nl == std::string::npos) nl = content.size();
        out.items.push_back(content.substr(at, nl - at));
        at = nl + 1;
    }
    return out;
}

std::string lines::join() const {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        out += items[i];
        if (i + 1 < items.size() || trailing_newline) out += '\n';
    }
    return out;
}

std::vector<std::string> words(std::string_view line) {
    std::istringstream in{std::string(line)};
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

std::string indent_of(std::string_view line) { return std::string(line.substr(0, line.find_first_not_of(" \t"))); }

bool is_comment_or_blank(std::string_view line) {
    auto t = trim(line);
    return t.empty() || t.front() == '#';
}

}  // namespace graft::agent::text
