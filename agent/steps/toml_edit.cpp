#include "agent/steps/toml_edit.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace graft::agent {
namespace {

using key_path = std::vector<std::string>;

// One statement of the document: a [table] or [[array]] header, or a key = value line.
struct statement {
    enum class kind { table, array_table, key_value } what;
    key_path path;            // the header's table, or the key's full path (its table's path, then the dotted key)
    bool in_array = false;    // a key below an [[array]] header: not addressed by path
    std::size_t begin = 0;    // start of its line
    std::size_t end = 0;      // just past its last line's newline (or the end of the text)
    std::size_t value_begin = 0, value_end = 0;  // key_value: the value's text
    std::string indent;
};

bool is_bare(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

class scanner {
public:
    explicit scanner(const std::string& t) : t_(t) {}

    std::vector<statement> statements() {
        std::vector<statement> out;
        key_path table;
        bool in_array = false;
        while (p_ < t_.size()) {
            const std::size_t line = p_;
            skip_blank();
            if (p_ >= t_.size()) break;
            const char c = t_[p_];
            if (c == '#' || c == '\n' || c == '\r') {
                to_line_end();
                continue;
            }
            statement s;
            s.begin = line;
            s.indent = t_.substr(line, p_ - line);
            if (c == '[') {
                const bool array = p_ + 1 < t_.size() && t_[p_ + 1] == '[';
                p_ += array ? 2 : 1;
                s.what = array ? statement::kind::array_table : statement::kind::table;
                s.path = dotted_key();
                table = s.path;
                in_array = array;
            } else {
                s.what = statement::kind::key_value;
                s.path = table;
                for (auto& k : dotted_key()) s.path.push_back(std::move(k));
                s.in_array = in_array;
                skip_blank();
                if (p_ < t_.size() && t_[p_] == '=') ++p_;
                skip_blank();
                s.value_begin = p_;
                s.value_end = value_end();
            }
            to_line_end();
            s.end = p_;
            out.push_back(std::move(s));
        }
        return out;
    }

private:
    void skip_blank() {
        while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\t')) ++p_;
    }
    // Past the rest of the line and its newline (a comment, or a header's closing brackets).
    void to_line_end() {
        auto nl = t_.find('\n', p_);
        p_ = nl == std::string::npos ? t_.size() : nl + 1;
    }

    key_path dotted_key() {
        key_path out;
        for (;;) {
            skip_blank();
            out.push_back(simple_key());
            skip_blank();
            if (p_ < t_.size() && t_[p_] == '.') {
                ++p_;
                continue;
            }
            return out;
        }
    }

    std::string simple_key() {
        std::string k;
        if (p_ < t_.size() && (t_[p_] == '"' || t_[p_] == '\'')) {
            const char q = t_[p_++];
            while (p_ < t_.size() && t_[p_] != q && t_[p_] != '\n') {
                if (q == '"' && t_[p_] == '\\' && p_ + 1 < t_.size()) {
                    // The escapes a key can need; toml++ has checked the whole document already.
                    const char e = t_[++p_];
                    k += e == 'n' ? '\n' : e == 't' ? '\t' : e;
                    ++p_;
                    continue;
                }
                k += t_[p_++];
            }
            if (p_ < t_.size() && t_[p_] == q) ++p_;
            return k;
        }
        while (p_ < t_.size() && is_bare(t_[p_])) k += t_[p_++];
        return k;
    }

    // Where the value starting at p_ ends: strings (all four kinds), arrays and inline tables may span lines.
    std::size_t value_end() {
        int depth = 0;
        std::size_t last = p_;  // just past the last character that belongs to the value
        while (p_ < t_.size()) {
            const char c = t_[p_];
            if (c == '"' || c == '\'') {
                skip_string();
                last = p_;
                continue;
            }
            if (c == '#') {
                auto nl = t_.find('\n', p_);
                p_ = nl == std::string::npos ? t_.size() : nl;
                continue;
            }
            if (c == '\n' && depth == 0) break;
            if (c == '[' || c == '{') ++depth;
            if (c == ']' || c == '}') --depth;
            ++p_;
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') last = p_;
        }
        p_ = last;
        return last;
    }

    void skip_string() {
        const char q = t_[p_];
        const bool multi = t_.compare(p_, 3, std::string(3, q)) == 0;
        p_ += multi ? 3 : 1;
        while (p_ < t_.size()) {
            if (q == '"' && t_[p_] == '\\') {
                p_ += 2;
                continue;
            }
            if (multi ? t_.compare(p_, 3, std::string(3, q)) == 0 : t_[p_] == q) {
                p_ += multi ? 3 : 1;
                // A multi-line string may end in up to two more quotes that belong to its content.
                while (multi && p_ < t_.size() && t_[p_] == q) ++p_;
                return;
            }
            ++p_;
        }
    }

    const std::string& t_;
    std::size_t p_ = 0;
};

// The line of the first byte outside ASCII that stands outside a string and a comment, or 0. TOML allows such bytes
// only inside those (keys and whitespace are ASCII), and toml++ 3.3.0 reaches __builtin_unreachable() on some of them
// in key position (is_non_ascii_horizontal_whitespace; found by the host_files fuzz target), so they are refused first.
std::size_t stray_non_ascii_line(std::string_view t) {
    std::size_t line = 1;
    for (std::size_t i = 0; i < t.size(); ++i) {
        const char c = t[i];
        if (c == '\n') {
            ++line;
        } else if (c == '#') {
            while (i + 1 < t.size() && t[i + 1] != '\n') ++i;
        } else if (c == '"' || c == '\'') {
            const bool multi = t.substr(i, 3) == std::string(3, c);
            const std::size_t open = multi ? 3 : 1;
            for (i += open; i < t.size(); ++i) {
                if (t[i] == '\n') ++line;
                if (c == '"' && t[i] == '\\') {
                    if (i + 1 < t.size() && t[i + 1] == '\n') ++line;
                    ++i;
                    continue;
                }
                if (t[i] == c && (!multi || t.substr(i, 3) == std::string(3, c))) {
                    i += open - 1;
                    break;
                }
                if (!multi && t[i] == '\n') break;  // an unclosed string: toml++ says so
            }
        } else if (static_cast<unsigned char>(c) >= 0x80) {
            return line;
        }
    }
    return 0;
}

toml::table parse(const std::string& text, const std::string& file) {
    if (auto line = stray_non_ascii_line(text))
        throw std::runtime_error(file + " is not valid TOML (a character outside ASCII on line " + std::to_string(line) +
                                 ", outside a string and a comment)");
    try {
        return toml::parse(text, std::string_view(file));
    } catch (const toml::parse_error& e) {
        std::ostringstream where;
        where << e.source().begin;
        throw std::runtime_error(file + " is not valid TOML (" + std::string(e.description()) + " at " + where.str() + ")");
    }
}

std::string dotted(const key_path& path, std::size_t from = 0) {
    std::string out;
    for (std::size_t i = from; i < path.size(); ++i) out += (i > from ? "." : "") + toml_text::key(path[i]);
    return out;
}

bool starts_with(const key_path& path, const key_path& prefix) {
    return prefix.size() <= path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

// The document the edit means: `doc` with `path` set to `value`. False when a table on the way is some other value.
bool assign(toml::table& doc, const key_path& path, const std::string& value) {
    toml::table* t = &doc;
    for (std::size_t i = 0; i + 1 < path.size(); ++i) {
        if (!t->contains(path[i])) t->insert(path[i], toml::table{});
        t = t->get_as<toml::table>(path[i]);
        if (!t) return false;
    }
    toml::table holder = toml::parse("v = " + value);
    toml::node* v = holder.get("v");
    if (!v) return false;
    v->visit([&](auto&& node) { t->insert_or_assign(path.back(), std::move(node)); });
    return true;
}

// The offset just past the last key of the table whose header (or the document's start, for the root table) is at
// `header`: new keys go there, before any blank lines and comments that lead into the next table.
std::size_t table_end(const std::vector<statement>& doc, std::ptrdiff_t header) {
    std::size_t at = header < 0 ? 0 : doc[static_cast<std::size_t>(header)].end;
    for (std::size_t i = static_cast<std::size_t>(header + 1); i < doc.size(); ++i) {
        if (doc[i].what != statement::kind::key_value) break;
        at = doc[i].end;
    }
    return at;
}

}  // namespace

toml_text::toml_text(std::string text, std::string file) : text_(std::move(text)), file_(std::move(file)) {
    parse(text_, file_);
}

std::string toml_text::key(const std::string& k) {
    if (!k.empty() && std::all_of(k.begin(), k.end(), is_bare)) return k;
    return quote(k);
}

std::string toml_text::quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out + "\"";
}

std::optional<std::string> toml_text::raw(const std::vector<std::string>& path) const {
    for (const auto& s : scanner(text_).statements())
        if (s.what == statement::kind::key_value && !s.in_array && s.path == path)
            return text_.substr(s.value_begin, s.value_end - s.value_begin);
    return std::nullopt;
}

void toml_text::set(const std::vector<std::string>& path, const std::string& value) {
    if (path.empty()) throw std::logic_error("toml_text::set: an empty path");
    toml::table want = parse(text_, file_);
    if (!assign(want, path, value))
        throw std::runtime_error(file_ + ": " + dotted(path) + " cannot be set: a table on its way is some other value");

    const auto doc = scanner(text_).statements();
    const key_path table(path.begin(), path.end() - 1);
    const std::string& key = path.back();
    // Keys below a header are indented as the table's other keys are; a new header as the file's headers are.
    const bool indented_headers = std::any_of(doc.begin(), doc.end(), [](const statement& s) {
        return s.what != statement::kind::key_value && !s.indent.empty();
    });
    auto key_indent = [&](std::ptrdiff_t header) {
        const std::size_t end = table_end(doc, header);
        for (std::size_t i = static_cast<std::size_t>(header + 1); i < doc.size() && doc[i].begin < end; ++i)
            return doc[i].indent;
        if (header < 0) return std::string();
        return doc[static_cast<std::size_t>(header)].indent + (indented_headers ? "  " : "");
    };
    auto insert_at = [&](std::size_t at, std::string lines) {
        std::string out = text_;
        if (at > 0 && out[at - 1] != '\n') lines = "\n" + lines;
        out.insert(at, lines);
        return out;
    };

    std::vector<std::string> candidates;
    for (const auto& s : doc)
        if (s.what == statement::kind::key_value && !s.in_array && s.path == path)
            candidates.push_back(text_.substr(0, s.value_begin) + value + text_.substr(s.value_end));
    if (candidates.empty()) {
        // The table's own header, or for the root table the top of the file: a key line after its last key.
        std::ptrdiff_t own = -2;
        if (table.empty()) own = -1;
        for (std::size_t i = 0; i < doc.size(); ++i)
            if (doc[i].what == statement::kind::table && doc[i].path == table) own = static_cast<std::ptrdiff_t>(i);
        if (own >= -1) {
            std::size_t at = table_end(doc, own);
            if (own == -1) {
                // A new top-level key goes before the first one, where `version` stands in containerd's files.
                if (!doc.empty()) at = doc.front().begin;
            }
            candidates.push_back(insert_at(at, key_indent(own) + toml_text::key(key) + " = " + value + "\n"));
        } else {
            // A new header after the last table that shares the longest start with this one, else at the end.
            std::size_t at = text_.size();
            for (std::size_t n = table.size(); n-- > 0;) {
                const key_path prefix(table.begin(), table.begin() + static_cast<std::ptrdiff_t>(n) + 1);
                std::ptrdiff_t last = -1;
                for (std::size_t i = 0; i < doc.size(); ++i)
                    if (doc[i].what != statement::kind::key_value && starts_with(doc[i].path, prefix))
                        last = static_cast<std::ptrdiff_t>(i);
                if (last >= 0) {
                    at = table_end(doc, last);
                    break;
                }
            }
            const std::string indent = indented_headers ? std::string(2 * (table.size() - 1), ' ') : "";
            const std::string header = indent + "[" + dotted(table) + "]\n" + indent + (indented_headers ? "  " : "") +
                                       toml_text::key(key) + " = " + value + "\n";
            candidates.push_back(insert_at(at, (at == text_.size() && at > 0 ? "\n" : "") + header));
            // Or a dotted key in the nearest table that has a header, for a table made by dotted keys.
            for (std::size_t n = table.size(); n-- > 0;) {
                const key_path prefix(table.begin(), table.begin() + static_cast<std::ptrdiff_t>(n));
                for (std::size_t i = 0; i < doc.size(); ++i)
                    if (doc[i].what == statement::kind::table && doc[i].path == prefix) {
                        auto rest = dotted(path, n);
                        candidates.push_back(insert_at(table_end(doc, static_cast<std::ptrdiff_t>(i)),
                                                       key_indent(static_cast<std::ptrdiff_t>(i)) + rest + " = " + value + "\n"));
                    }
            }
        }
    }
    for (auto& candidate : candidates) {
        try {
            if (toml::parse(candidate) == want) {
                text_ = std::move(candidate);
                return;
            }
        } catch (const toml::parse_error&) {
        }
    }
    throw std::runtime_error(file_ + ": cannot set " + dotted(path) + " = " + value +
                             " in place (the file defines that table in a way graft does not edit)");
}

}  // namespace graft::agent
