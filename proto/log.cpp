#include "proto/log.hpp"

#include "proto/systemd.hpp"

#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <vector>

namespace graft::proto {
namespace {

std::mutex log_mutex;
std::string identity = "graft";
std::atomic<int> threshold{static_cast<int>(log_level::info)};

// systemd sets JOURNAL_STREAM to the device:inode of the stream it connected stderr to; when stderr is still that
// stream, entries go to the journal natively, with their fields.
bool stderr_is_journal() {
    static const bool value = [] {
        const char* env = std::getenv("JOURNAL_STREAM");
        if (!env) return false;
        unsigned long long dev = 0, ino = 0;
        if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
        struct stat st {};
        return ::fstat(2, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
    }();
    return value;
}

const char* level_name(log_level l) {
    switch (l) {
    case log_level::error: return "error";
    case log_level::warning: return "warning";
    case log_level::notice: return "notice";
    case log_level::info: return "info";
    case log_level::debug: return "debug";
    }
    return "?";
}

void hex_escape(std::string& out, std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    for (unsigned char c : bytes) {
        out += "\\x";
        out += digits[c >> 4];
        out += digits[c & 0xf];
    }
}

// The length of the UTF-8 sequence at the start of `s` and its code point, or 0 when it is not valid UTF-8
// (overlong forms, surrogates and values past U+10FFFF included).
std::size_t utf8_sequence(std::string_view s, char32_t& cp) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    std::size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || n > s.size()) return 0;
    cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (std::size_t i = 1; i < n; ++i) {
        if ((b(i) & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (b(i) & 0x3f);
    }
    static constexpr char32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

}  // namespace

std::string shortened(std::string_view text, std::size_t bytes) {
    if (text.size() <= bytes) return std::string(text);
    std::size_t keep = bytes - 3;
    while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;  // whole UTF-8 characters
    return std::string(text.substr(0, keep)) + "...";
}

std::string escape_for_display(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        char32_t cp = 0;
        const std::size_t n = utf8_sequence(text.substr(i), cp);
        if (n == 0) {
            hex_escape(out, text.substr(i, 1));
            ++i;
            continue;
        }
        const bool control = cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
        const bool bidi = (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
        if (cp == '\n') out += "\\n";
        else if (cp == '\r') out += "\\r";
        else if (cp == '\t') out += "\\t";
        else if (cp == 0x1b) out += "\\e";
        else if (control || bidi) hex_escape(out, text.substr(i, n));
        else out.append(text.substr(i, n));
        i += n;
    }
    return out;
}

void set_log_identity(std::string_view program) {
    std::lock_guard lock(log_mutex);
    identity = program;
}

void set_log_threshold(log_level level) { threshold = static_cast<int>(level); }

void log(log_level level, std::string_view message, std::initializer_list<log_field> fields, const char* message_id) {
    if (static_cast<int>(level) > threshold) return;
    if (stderr_is_journal()) {
        std::vector<std::string> items;
        items.push_back("MESSAGE=" + escape_for_display(message));
        items.push_back("PRIORITY=" + std::to_string(static_cast<int>(level)));
        {
            std::lock_guard lock(log_mutex);
            items.push_back("SYSLOG_IDENTIFIER=" + identity);
        }
        if (message_id) items.push_back(std::string("MESSAGE_ID=") + message_id);
        for (const auto& f : fields) items.push_back(std::string(f.name) + "=" + escape_for_display(f.value));
        if (journal_send(items)) return;
    }
    std::string line;
    {
        std::lock_guard lock(log_mutex);
        line = identity;
    }
    line += ": ";
    if (level <= log_level::warning) line += std::string(level_name(level)) + ": ";
    line += escape_for_display(message);
    for (const auto& f : fields) {
        if (f.value.empty()) continue;
        line += " ";
        line += f.name;
        line += "=";
        line += escape_for_display(f.value);
    }
    line += "\n";
    std::lock_guard lock(log_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace graft::proto
