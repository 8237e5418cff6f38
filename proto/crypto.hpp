#pragma once
// Small cryptographic helpers over OpenSSL: a CSPRNG, SHA-256, constant-time comparison, AES-256-GCM sealing.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace graft::proto {

std::vector<std::uint8_t> random_bytes(std::size_t count);
// `length` characters drawn uniformly from `alphabet` (rejection sampling, so no character is favoured).
std::string random_string(std::size_t length, std::string_view alphabet);
inline constexpr std::string_view lowercase_alphanumeric = "abcdefghijklmnopqrstuvwxyz0123456789";

// Lowercase hex of `count` random bytes (16 give a machine-id).
std::string random_hex(std::size_t count);
std::string sha256_hex(std::string_view data);
// Compares in time that depends only on the lengths, never on where the strings first differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// Standard base64 (RFC 4648 section 4) with padding, as Kubernetes uses for Secret data and kubeconfig *-data fields.
std::string base64_encode(std::string_view data);
// Strict: nullopt on a character outside the alphabet, a wrong length or misplaced padding. Line breaks are skipped.
std::optional<std::string> base64_decode(std::string_view text);

// AES-256-GCM under a 32-byte `key`, with a fresh random 96-bit nonce: nonce || ciphertext || 128-bit tag. `context`
// is authenticated, not encrypted: a sealed value opens only for the use it was sealed for.
std::string seal(std::string_view key, std::string_view plaintext, std::string_view context);
// nullopt when `sealed` was not sealed under this key and context, or was altered since.
std::optional<std::string> unseal(std::string_view key, std::string_view sealed, std::string_view context);

}  // namespace graft::proto
