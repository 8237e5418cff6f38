#include "proto/crypto.hpp"

#include "proto/openssl.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <stdexcept>

namespace graft::proto {

std::vector<std::uint8_t> random_bytes(std::size_t count) {
    std::vector<std::uint8_t> out(count);
    openssl_check(count <= INT_MAX && RAND_bytes(out.data(), static_cast<int>(count)) == 1, "RAND_bytes");
    return out;
}

std::string random_string(std::size_t length, std::string_view alphabet) {
    // Accept only bytes below the largest multiple of the alphabet size, so every character is equally likely.
    const unsigned limit = 256 - (256 % alphabet.size());
    std::string out;
    out.reserve(length);
    while (out.size() < length) {
        for (std::uint8_t b : random_bytes(length - out.size() + 8)) {
            if (b >= limit) continue;
            out.push_back(alphabet[b % alphabet.size()]);
            if (out.size() == length) break;
        }
    }
    return out;
}

namespace {

std::string to_hex(const unsigned char* data, std::size_t len) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (std::size_t i = 0; i < len; ++i) {
        out.push_back(hex[data[i] >> 4]);
        out.push_back(hex[data[i] & 0xf]);
    }
    return out;
}

}  // namespace

std::string random_hex(std::size_t count) {
    auto bytes = random_bytes(count);
    return to_hex(bytes.data(), bytes.size());
}

std::string sha256_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    openssl_check(EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) == 1, "EVP_Digest(SHA-256)");
    return to_hex(digest, len);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {
constexpr std::string_view base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < data.size(); i += 3) {
        std::uint32_t n = static_cast<std::uint8_t>(data[i]) << 16;
        if (i + 1 < data.size()) n |= static_cast<std::uint8_t>(data[i + 1]) << 8;
        if (i + 2 < data.size()) n |= static_cast<std::uint8_t>(data[i + 2]);
        out.push_back(base64_alphabet[(n >> 18) & 63]);
        out.push_back(base64_alphabet[(n >> 12) & 63]);
        out.push_back(i + 1 < data.size() ? base64_alphabet[(n >> 6) & 63] : '=');
        out.push_back(i + 2 < data.size() ? base64_alphabet[n & 63] : '=');
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    std::string clean;
    clean.reserve(text.size());
    for (char c : text)
        if (c != '\n' && c != '\r') clean.push_back(c);
    if (clean.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(clean.size() / 4 * 3);
    for (std::size_t i = 0; i < clean.size(); i += 4) {
        std::uint32_t n = 0;
        int padding = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const char c = clean[i + k];
            if (c == '=') {
                // Padding only at the very end, and at most two characters of it.
                if (i + 4 != clean.size() || k < 2) return std::nullopt;
                ++padding;
                n <<= 6;
                continue;
            }
            if (padding) return std::nullopt;
            const auto at = base64_alphabet.find(c);
            if (at == std::string_view::npos) return std::nullopt;
            n = (n << 6) | static_cast<std::uint32_t>(at);
        }
        out.push_back(static_cast<char>((n >> 16) & 0xff));
        if (padding < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
        if (padding < 1) out.push_back(static_cast<char>(n & 0xff));
    }
    return out;
}

namespace {

constexpr std::size_t gcm_nonce = 12, gcm_tag = 16;

struct cipher_ctx {
    EVP_CIPHER_CTX* p = EVP_CIPHER_CTX_new();
    ~cipher_ctx() { EVP_CIPHER_CTX_free(p); }
};

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

std::string seal(std::string_view key, std::string_view plaintext, std::string_view context) {
    if (key.size() != 32) throw std::invalid_argument("an AES-256 key is 32 bytes");
    const auto nonce = random_bytes(gcm_nonce);
    std::string out(nonce.begin(), nonce.end());
    out.resize(gcm_nonce + plaintext.size() + gcm_tag);
    auto* cipher = reinterpret_cast<unsigned char*>(out.data());
    cipher_ctx ctx;
    int len = 0;
    openssl_check(ctx.p && EVP_EncryptInit_ex(ctx.p, EVP_aes_256_gcm(), nullptr, bytes(key), nonce.data()) == 1, "EVP_EncryptInit_ex");
    openssl_check(EVP_EncryptUpdate(ctx.p, nullptr, &len, bytes(context), static_cast<int>(context.size())) == 1, "EVP_EncryptUpdate");
    openssl_check(EVP_EncryptUpdate(ctx.p, cipher + gcm_nonce, &len, bytes(plaintext), static_cast<int>(plaintext.size())) == 1,
                  "EVP_EncryptUpdate");
    openssl_check(EVP_EncryptFinal_ex(ctx.p, cipher + gcm_nonce + len, &len) == 1, "EVP_EncryptFinal_ex");
    openssl_check(EVP_CIPHER_CTX_ctrl(ctx.p, EVP_CTRL_GCM_GET_TAG, gcm_tag, cipher + gcm_nonce + plaintext.size()) == 1,
                  "EVP_CTRL_GCM_GET_TAG");
    return out;
}

std::optional<std::string> unseal(std::string_view key, std::string_view sealed, std::string_view context) {
    if (key.size() != 32 || sealed.size() < gcm_nonce + gcm_tag) return std::nullopt;
    const std::string_view nonce = sealed.substr(0, gcm_nonce), tag = sealed.substr(sealed.size() - gcm_tag),
                           cipher = sealed.substr(gcm_nonce, sealed.size() - gcm_nonce - gcm_tag);
    std::string plain(cipher.size(), '\0');
    cipher_ctx ctx;
    int len = 0;
    openssl_check(ctx.p && EVP_DecryptInit_ex(ctx.p, EVP_aes_256_gcm(), nullptr, bytes(key), bytes(nonce)) == 1, "EVP_DecryptInit_ex");
    if (EVP_DecryptUpdate(ctx.p, nullptr, &len, bytes(context), static_cast<int>(context.size())) != 1) return std::nullopt;
    if (EVP_DecryptUpdate(ctx.p, reinterpret_cast<unsigned char*>(plain.data()), &len, bytes(cipher), static_cast<int>(cipher.size())) != 1)
        return std::nullopt;
    std::string tag_copy(tag);
    if (EVP_CIPHER_CTX_ctrl(ctx.p, EVP_CTRL_GCM_SET_TAG, gcm_tag, tag_copy.data()) != 1) return std::nullopt;
    if (EVP_DecryptFinal_ex(ctx.p, reinterpret_cast<unsigned char*>(plain.data()) + len, &len) != 1) return std::nullopt;
    return plain;
}

}  // namespace graft::proto
