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

}  // namespace

void set_log_identity(std::string_view program) {
    std::lock_guard lock(log_mutex);
    identity = program;
}

void set_log_threshold(log_level level) { threshold = static_cast<int>(level); }

void log(log_level level, std::string_view message, std::initializer_list<log_field> fields, const char* message_id) {
    if (static_cast<int>(level) > threshold) return;
    if (stderr_is_journal()) {
        std::vector<std::string> items;
        items.push_back("MESSAGE=" + std::string(message));
        items.push_back("PRIORITY=" + std::to_string(static_cast<int>(level)));
        {
            std::lock_guard lock(log_mutex);
            items.push_back("SYSLOG_IDENTIFIER=" + identity);
        }
        if (message_id) items.push_back(std::string("MESSAGE_ID=") + message_id);
        for (const auto& f : fields) items.push_back(std::string(f.name) + "=" + f.value);
        if (journal_send(items)) return;
    }
    std::string line;
    {
        std::lock_guard lock(log_mutex);
        line = identity;
    }
    line += ": ";
    if (level <= log_level::warning) line += std::string(level_name(level)) + ": ";
    line += message;
    for (const auto& f : fields) {
        if (f.value.empty()) continue;
        line += " ";
        line += f.name;
        line += "=";
        line += f.value;
    }
    line += "\n";
    std::lock_guard lock(log_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace graft::proto
