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

// Text from outside (a CSR's subject, a node's report, another program's output) made safe for one log line, a
// journal field or a terminal cell: control characters (C0, DEL, C1), the Unicode bidirectional overrides and bytes
// that are not UTF-8 become visible escapes (\n, \r, \t, \e, \xHH with the bytes' hex), so no input can start a
// new line, move the cursor, paint colours or reorder what is shown. Printable UTF-8 passes unchanged. log() applies
// it to the message and every field; tables and other terminal output apply it to each cell.
std::string escape_for_display(std::string_view text);
// `text` cut to at most `bytes` bytes (at least 4) at a character boundary, ending in "..." when anything was cut.
std::string shortened(std::string_view text, std::size_t bytes);

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
