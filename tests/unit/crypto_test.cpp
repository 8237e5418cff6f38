#include "proto/crypto.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace graft::proto;

TEST_CASE("random strings have the length asked for and stay in their alphabet") {
    auto s = random_string(1000, lowercase_alphanumeric);
    CHECK(s.size() == 1000);
    CHECK(s.find_first_not_of(lowercase_alphanumeric) == std::string::npos);
    // Every one of the 36 characters turns up in 1000 draws (the chance one is missing is below 1e-10).
    CHECK(std::set<char>(s.begin(), s.end()).size() == 36);
    CHECK(random_string(32, lowercase_alphanumeric) != random_string(32, lowercase_alphanumeric));
}

TEST_CASE("SHA-256 matches the standard test vector") {
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("constant-time comparison tells equal from unequal strings") {
    CHECK(constant_time_equal("secret", "secret"));
    CHECK_FALSE(constant_time_equal("secret", "secreT"));
    CHECK_FALSE(constant_time_equal("secret", "secrets"));
    CHECK(constant_time_equal("", ""));
}

TEST_CASE("random hex is lowercase, twice the byte count long, and fresh each time") {
    auto h = random_hex(16);
    CHECK(h.size() == 32);
    CHECK(h.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(random_hex(16) != h);
}

TEST_CASE("a sealed value opens with its key and context only, and an altered one not at all") {
    const auto key_bytes = random_bytes(32);
    const std::string key(key_bytes.begin(), key_bytes.end());
    const std::string secret = "-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n";
    const auto sealed = seal(key, secret, "graft CA key for /graft/a/");
    CHECK(sealed.find("not really") == std::string::npos);
    CHECK(sealed.size() == 12 + secret.size() + 16);
    CHECK(unseal(key, sealed, "graft CA key for /graft/a/") == secret);
    CHECK(seal(key, secret, "graft CA key for /graft/a/") != sealed);  // a fresh nonce each time

    const auto other_bytes = random_bytes(32);
    CHECK_FALSE(unseal(std::string(other_bytes.begin(), other_bytes.end()), sealed, "graft CA key for /graft/a/"));
    CHECK_FALSE(unseal(key, sealed, "graft CA key for /graft/b/"));
    for (std::size_t at : {std::size_t{0}, std::size_t{20}, sealed.size() - 1}) {
        auto altered = sealed;
        altered[at] = static_cast<char>(altered[at] ^ 1);
        CHECK_FALSE(unseal(key, altered, "graft CA key for /graft/a/"));
    }
    CHECK_FALSE(unseal(key, sealed.substr(0, 20), "graft CA key for /graft/a/"));
    CHECK_THROWS_AS(seal("short", secret, ""), std::invalid_argument);
}
