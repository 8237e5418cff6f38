#include "proto/crypto.hpp"

#include "proto/openssl.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>

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

}  // namespace graft::proto
