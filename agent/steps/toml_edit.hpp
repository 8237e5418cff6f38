#pragma once
// In-place edits of a TOML file. A key that exists gets its value replaced where it stands; a new key goes after the
// last key of its table; a new table goes after the tables it belongs with. Every other byte — comments, quoting,
// indentation, order — stays, so a plan's diff shows only what changed. Each edit is checked by parsing the result
// with toml++ and comparing it with the document the edit means (the original with that one value set); an edit
// that cannot be made so throws std::runtime_error and leaves the text as it was.

#include <optional>
#include <string>
#include <vector>

namespace graft::agent {

class toml_text {
public:
    // Throws std::runtime_error naming `file` and the place when `text` is not valid TOML.
    toml_text(std::string text, std::string file);

    const std::string& str() const { return text_; }
    // The value at `path` as it is written in the file ("true", "\"runc\""), or nullopt. Keys inside arrays of
    // tables are not addressed.
    std::optional<std::string> raw(const std::vector<std::string>& path) const;
    // Sets the value at `path` (tables, then the key) to `value`, a TOML literal: true, 2, "text", ["a", "b"].
    void set(const std::vector<std::string>& path, const std::string& value);

    // A key as TOML writes it: bare when it can be, else a basic string.
    static std::string key(const std::string& k);
    // A string as a TOML basic string literal.
    static std::string quote(const std::string& s);

private:
    std::string text_;
    std::string file_;
};

}  // namespace graft::agent
