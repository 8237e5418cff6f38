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

}  // namespace graft::proto
