#include "proto/json_fields.hpp"

namespace graft::proto {
namespace {

const char* type_name(const json& v) {
    switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_float: return "a fractional number";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    default: return "an unsupported value";
    }
}

std::string describe(const std::string& field, const std::string& problem) {
    return field.empty() ? problem : "field '" + field + "': " + problem;
}

}  // namespace

validation_error::validation_error(std::string field, const std::string& problem)
    : std::runtime_error(describe(field, problem)), field_(std::move(field)) {}

json parse_json(std::string_view text) {
    // The parser's callback sees every key before its value: it keeps the dotted path of the value being read (for
    // a number out of range, which the parser throws on) and the keys of each open object (a key given twice is
    // refused, where nlohmann's parser would keep the last).
    struct open_object {
        std::set<std::string> keys;
        std::string path;
    };
    std::vector<open_object> objects;
    std::string current;  // the path of the value being parsed
    std::string duplicate;
    auto callback = [&](int, json::parse_event_t event, json& parsed) {
        switch (event) {
        case json::parse_event_t::object_start:
            objects.push_back({{}, current});
            break;
        case json::parse_event_t::key: {
            auto& top = objects.back();
            const auto key = parsed.get<std::string>();
            current = top.path.empty() ? key : top.path + "." + key;
            if (!top.keys.insert(key).second && duplicate.empty()) duplicate = current;
            break;
        }
        case json::parse_event_t::object_end:
            objects.pop_back();
            current = objects.empty() ? "" : objects.back().path;
            break;
        default:
            break;
        }
        return true;
    };
    json value;
    try {
        value = json::parse(text, callback);
    } catch (const json::parse_error& e) {
        throw validation_error("", "malformed JSON at byte " + std::to_string(e.byte));
    } catch (const json::out_of_range&) {
        throw validation_error(current, "is a number out of range");
    } catch (const json::exception&) {
        throw validation_error(current, "cannot be read as JSON");
    }
    if (!duplicate.empty()) throw validation_error(duplicate, "appears twice; give each field once");
    return value;
}

object_reader::object_reader(const json& value, std::string path) : value_(value), path_(std::move(path)) {
    if (!value_.is_object())
        throw validation_error(path_, std::string("expected an object, got ") + type_name(value_));
}

std::string object_reader::path_of(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const json* object_reader::find(std::string_view key) {
    seen_.emplace(key);
    auto it = value_.find(key);
    return it == value_.end() ? nullptr : &*it;
}

const json& object_reader::require(std::string_view key) {
    const json* v = find(key);
    if (!v) throw validation_error(path_of(key), "is required");
    return *v;
}

std::string object_reader::required_string(std::string_view key) {
    const json& v = require(key);
    if (!v.is_string()) throw validation_error(path_of(key), std::string("expected a string, got ") + type_name(v));
    return v.get<std::string>();
}

std::optional<std::string> object_reader::optional_string(std::string_view key) {
    if (const json* v = find(key); v && !v->is_null()) {
        if (!v->is_string())
            throw validation_error(path_of(key), std::string("expected a string, got ") + type_name(*v));
        return v->get<std::string>();
    }
    return std::nullopt;
}

namespace {
std::int64_t as_integer(const json& v, const std::string& field) {
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() > INT64_MAX))
        throw validation_error(field, std::string("expected an integer, got ") + type_name(v));
    return v.get<std::int64_t>();
}
}  // namespace

std::int64_t object_reader::required_integer(std::string_view key) { return as_integer(require(key), path_of(key)); }

std::optional<std::int64_t> object_reader::optional_integer(std::string_view key) {
    if (const json* v = find(key); v && !v->is_null()) return as_integer(*v, path_of(key));
    return std::nullopt;
}

bool object_reader::required_bool(std::string_view key) {
    const json& v = require(key);
    if (!v.is_boolean()) throw validation_error(path_of(key), std::string("expected true or false, got ") + type_name(v));
    return v.get<bool>();
}

std::optional<bool> object_reader::optional_bool(std::string_view key) {
    if (!find(key)) return std::nullopt;
    return required_bool(key);
}

std::vector<std::string> object_reader::string_list(std::string_view key) {
    std::vector<std::string> out;
    const json* v = find(key);
    if (!v || v->is_null()) return out;
    if (!v->is_array()) throw validation_error(path_of(key), std::string("expected an array, got ") + type_name(*v));
    for (std::size_t i = 0; i < v->size(); ++i) {
        const json& item = (*v)[i];
        if (!item.is_string())
            throw validation_error(path_of(key) + "[" + std::to_string(i) + "]",
                                   std::string("expected a string, got ") + type_name(item));
        out.push_back(item.get<std::string>());
    }
    return out;
}

const json* object_reader::optional_array(std::string_view key) {
    const json* v = find(key);
    if (!v || v->is_null()) return nullptr;
    if (!v->is_array()) throw validation_error(path_of(key), std::string("expected an array, got ") + type_name(*v));
    return v;
}

object_reader object_reader::required_object(std::string_view key) { return object_reader(require(key), path_of(key)); }

std::optional<object_reader> object_reader::optional_object(std::string_view key) {
    if (const json* v = find(key); v && !v->is_null()) return object_reader(*v, path_of(key));
    return std::nullopt;
}

void object_reader::finish() const {
    for (const auto& [key, _] : value_.items())
        if (!seen_.contains(key)) throw validation_error(path_of(key), "is not a known field");
}

}  // namespace graft::proto
