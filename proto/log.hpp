#pragma once
// Logging for both daemons. Under systemd (stderr connected to the journal) each entry goes to the journal with
// structured fields: MESSAGE_ID, GRAFT_NODE, GRAFT_PHASE, GRAFT_STEP, and PRIORITY. Elsewhere it is one readable
// line on stderr. Callable from any thread. Never pass a secret: every field is kept.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace graft::proto {

enum class log_level { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

struct log_field {
    std::string_view name;   // a journal field name: GRAFT_NODE, GRAFT_PHASE, GRAFT_STEP, ...
    std::string value;
};

// The program name in stderr lines and SYSLOG_IDENTIFIER in the journal.
void set_log_identity(std::string_view program);
// Messages below this level are dropped (default: info).
void set_log_threshold(log_level level);

void log(log_level level, std::string_view message, std::initializer_list<log_field> fields = {},
         const char* message_id = nullptr);

inline void log_info(std::string_view m, std::initializer_list<log_field> f = {}, const char* id = nullptr) { log(log_level::info, m, f, id); }
inline void log_warning(std::string_view m, std::initializer_list<log_field> f = {}, const char* id = nullptr) { log(log_level::warning, m, f, id); }
inline void log_error(std::string_view m, std::initializer_list<log_field> f = {}, const char* id = nullptr) { log(log_level::error, m, f, id); }

}  // namespace graft::proto
