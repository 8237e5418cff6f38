#include "agent/commands.hpp"

#include <openssl/ssl.h>

int main(int argc, char** argv) {
    // OpenSSL is linked into the static agent, but /usr/lib/ssl/openssl.cnf on the node belongs to whatever OpenSSL
    // the image ships (another version, maybe naming provider modules a static binary cannot load). The agent needs
    // nothing from it — it trusts only the CA pinned in graft.json — so it is not read. This must come before any
    // other OpenSSL call.
    OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);
    return graft::agent::run_command_line(std::vector<std::string>(argv + 1, argv + argc));
}
