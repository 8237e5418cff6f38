#pragma once
// Strict reading of JSON objects: every field is declared, typed and named in the error when it is wrong,
// and a field nobody declared is itself an error. Used for wire messages and for graft's config files alike.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace graft::proto {

using json = nlohmann::json;

// A value that does not fit its schema. field() is the dotted path ("facts.machine_id"), empty for the whole document.
class validation_error : public std::runtime_error {
public:
    validation_error(std::string field, const std::string& problem);
    const std::string& field() const noexcept { return field_; }

private:
    std::string field_;
};

// Parses a JSON document; malformed input is a validation_error that says where it broke.
json parse_json(std::string_view text);

// Reads the fields of one JSON object. Call finish() after the last field, so unknown fields are refused.
// It refers to `value`, which must outlive it.
class object_reader {
public:
    object_reader(const json& value, std::string path);
    object_reader(json&&, std::string) = delete;  // would dangle

    std::string required_string(std::string_view key);
    std::optional<std::string> optional_string(std::string_view key);
    std::int64_t required_integer(std::string_view key);
    std::optional<std::int64_t> optional_integer(std::string_view key);
    bool required_bool(std::string_view key);
    std::optional<bool> optional_bool(std::string_view key);
    std::vector<std::string> string_list(std::string_view key);  // absent means empty
    // The array at `key` (nullptr when absent); its items are the caller's to read.
    const json* optional_array(std::string_view key);
    object_reader required_object(std::string_view key);
    std::optional<object_reader> optional_object(std::string_view key);

    // The dotted path of `key` inside this object, for errors raised by the caller's own checks.
    std::string path_of(std::string_view key) const;
    void finish() const;

private:
    const json* find(std::string_view key);
    const json& require(std::string_view key);

    const json& value_;
    std::string path_;
    std::set<std::string, std::less<>> seen_;
};

}  // namespace graft::proto
