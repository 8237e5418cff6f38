#pragma once
// The keys that seal TLS 1.3 session tickets, so that a client that comes back resumes its session instead of
// paying for a full handshake. They live in STATE_DIR/ticket-keys (mode 0600), not in one process's memory: a
// restarted coordinator, or a second one that shares the file, opens the tickets the first one sealed.
//
// Each key seals new tickets for `rotate_after` and opens them for `rotate_after` more, then is dropped, so a
// stolen ticket key reveals at most two periods of sessions. Any coordinator sharing the file rotates it, under a
// lock, when its newest key is due; the others see the new key at their next refresh(). A ticket lives no longer
// than a key opens it.
//
// A resumed session carries the client certificate of the handshake it began with; the server checks its
// validity and the registry's word on it on every request as it does after a full handshake (server.cpp,
// router.cpp).

#include <boost/asio/ssl/context.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <vector>

namespace graft::coordinator {

class session_tickets {
public:
    // Reads (or makes) the key file at `path` and has `tls` seal and open tickets with its keys. `tls` must outlive
    // this object's use by it, and this object must outlive `tls`'s connections.
    session_tickets(std::string path, boost::asio::ssl::context& tls,
                    std::chrono::seconds rotate_after = std::chrono::hours(12));

    // Reads the file again, rotating it first when its newest key is due. Throws when the file cannot be read or
    // written, naming it; the keys in use stay as they were.
    void refresh();

    std::size_t key_count() const;

    struct key {
        std::int64_t created = 0;  // unix seconds
        std::array<unsigned char, 16> name{};
        std::array<unsigned char, 32> aes{};
        std::array<unsigned char, 32> hmac{};
    };

private:
    static int callback(struct ssl_st* ssl, unsigned char* key_name, unsigned char* iv, struct evp_cipher_ctx_st* cipher,
                        struct evp_mac_ctx_st* mac, int encrypt);
    int seal_or_open(unsigned char* key_name, unsigned char* iv, struct evp_cipher_ctx_st* cipher,
                     struct evp_mac_ctx_st* mac, int encrypt);

    std::string path_;
    std::chrono::seconds rotate_after_;
    mutable std::shared_mutex mutex_;
    std::vector<key> keys_;  // newest first
};

// The parsed key file; throws std::runtime_error naming the line that is wrong.
std::vector<session_tickets::key> parse_ticket_keys(const std::string& text, const std::string& path);
std::string format_ticket_keys(const std::vector<session_tickets::key>& keys);

}  // namespace graft::coordinator
