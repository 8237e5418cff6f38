#include "coordinator/http/session_tickets.hpp"

#include "proto/crypto.hpp"
#include "proto/files.hpp"
#include "proto/log.hpp"
#include "proto/time.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <sys/file.h>
#include <unistd.h>

namespace graft::coordinator {
namespace {

int ex_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

template <std::size_t N>
std::string to_hex(const std::array<unsigned char, N>& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

template <std::size_t N>
bool from_hex(std::string_view text, std::array<unsigned char, N>& out) {
    if (text.size() != 2 * N) return false;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < N; ++i) {
        const int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    return true;
}

template <std::size_t N>
void fill_random(std::array<unsigned char, N>& out) {
    auto bytes = proto::random_bytes(N);
    std::copy(bytes.begin(), bytes.end(), out.begin());
}

// An exclusive flock on PATH.lock for the life of the object: coordinators sharing the key file rotate it in turn.
struct file_lock {
    int fd;
    explicit file_lock(const std::string& path) : fd(::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
        if (fd < 0) throw std::runtime_error("cannot open " + path + ".lock: " + std::strerror(errno));
        while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
    ~file_lock() { ::close(fd); }
};

}  // namespace

std::vector<session_tickets::key> parse_ticket_keys(const std::string& text, const std::string& path) {
    std::vector<session_tickets::key> keys;
    std::istringstream in(text);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::string created, name, aes, hmac, extra;
        session_tickets::key k;
        fields >> created >> name >> aes >> hmac >> extra;
        bool ok = !created.empty() && extra.empty() && from_hex(name, k.name) && from_hex(aes, k.aes) && from_hex(hmac, k.hmac);
        try {
            std::size_t used = 0;
            k.created = ok ? std::stoll(created, &used) : 0;
            ok = ok && used == created.size();
        } catch (const std::exception&) {
            ok = false;
        }
        if (!ok)
            throw std::runtime_error(path + " line " + std::to_string(number) +
                                     ": expected 'CREATED NAME AES-KEY HMAC-KEY' (unix seconds, then 16, 32 and 32 bytes "
                                     "in lowercase hex); delete the file and the coordinator makes a new one (clients "
                                     "then make one full handshake)");
        keys.push_back(k);
    }
    std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.created > b.created; });
    return keys;
}

std::string format_ticket_keys(const std::vector<session_tickets::key>& keys) {
    std::string out = "# TLS session ticket keys of graft-coordinator, newest first: CREATED NAME AES-KEY HMAC-KEY.\n"
                      "# Secret. Rotated by the coordinator; share it (mode 0600) with a second coordinator.\n";
    for (const auto& k : keys)
        out += std::to_string(k.created) + " " + to_hex(k.name) + " " + to_hex(k.aes) + " " + to_hex(k.hmac) + "\n";
    return out;
}

session_tickets::session_tickets(std::string path, boost::asio::ssl::context& tls, std::chrono::seconds rotate_after)
    : path_(std::move(path)), rotate_after_(rotate_after) {
    refresh();
    SSL_CTX* ctx = tls.native_handle();
    SSL_CTX_set_ex_data(ctx, ex_index(), this);
    // A session outlives no key that can open its ticket.
    SSL_CTX_set_timeout(ctx, static_cast<long>(rotate_after_.count()));
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &session_tickets::callback);
}

void session_tickets::refresh() {
    std::vector<key> keys;
    {
        file_lock lock(path_);
        std::string text;
        if (::access(path_.c_str(), F_OK) == 0) text = proto::read_file(path_);
        keys = parse_ticket_keys(text, path_);
        const std::int64_t now = proto::to_unix(proto::clock::now());
        const auto period = static_cast<std::int64_t>(rotate_after_.count());
        const auto before = keys.size();
        std::erase_if(keys, [&](const key& k) { return k.created <= now - 2 * period; });
        bool changed = keys.size() != before;
        if (keys.empty() || keys.front().created <= now - period) {
            key fresh;
            fresh.created = now;
            fill_random(fresh.name);
            fill_random(fresh.aes);
            fill_random(fresh.hmac);
            keys.insert(keys.begin(), fresh);
            changed = true;
        }
        if (changed) proto::write_file_atomic(path_, format_ticket_keys(keys), 0600);
    }
    std::unique_lock lock(mutex_);
    keys_ = std::move(keys);
}

std::size_t session_tickets::key_count() const {
    std::shared_lock lock(mutex_);
    return keys_.size();
}

int session_tickets::callback(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                              EVP_MAC_CTX* mac, int encrypt) {
    auto* self = static_cast<session_tickets*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index()));
    return self ? self->seal_or_open(key_name, iv, cipher, mac, encrypt) : -1;
}

int session_tickets::seal_or_open(unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                                  int encrypt) {
    std::shared_lock lock(mutex_);
    if (keys_.empty()) return 0;
    const key* use = nullptr;
    if (encrypt) {
        use = &keys_.front();
        std::memcpy(key_name, use->name.data(), use->name.size());
        if (RAND_bytes(iv, 16) != 1) return -1;
    } else {
        for (const auto& k : keys_)
            if (std::memcmp(key_name, k.name.data(), k.name.size()) == 0) use = &k;
        if (!use) return 0;  // a key dropped or never ours: a full handshake, and a new ticket
    }
    std::string digest = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(use->hmac.data()), use->hmac.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    if (encrypt) return EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, use->aes.data(), iv) == 1 ? 1 : -1;
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, use->aes.data(), iv) != 1) return -1;
    // Always "renew": a TLS 1.3 client uses a ticket once, and OpenSSL sends a resumed connection a new ticket only
    // when asked to, so without it every other connection of a caching client made a full handshake.
    return 2;
}

}  // namespace graft::coordinator
