#pragma once
// Line and word handling for the config files the steps edit. Edits keep every line they do not mean to change
// byte for byte, including whether the file ended in a newline.

#include <string>
#include <string_view>
#include <vector>

namespace graft::agent::text {

struct lines {
    std::vector<std::string> items;
    bool trailing_newline = true;
    static lines split(const std::string& content);
    std::string join() const;
};

std::vector<std::string> words(std::string_view line);
std::string trim(std::string_view s);
// The leading white space of a line.
std::string indent_of(std::string_view line);
bool is_comment_or_blank(std::string_view line);

}  // namespace graft::agent::text
