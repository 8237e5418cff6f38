#pragma once
// RAII owners for the OpenSSL objects graft uses, and the one checking helper every OpenSSL call goes through.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace graft::proto {

// An OpenSSL call failed; what() names the call and carries OpenSSL's own error queue.
struct openssl_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Throws openssl_error naming `call` when `ok` is false, and drains OpenSSL's thread-local error queue.
void openssl_check(bool ok, std::string_view call);
// Discards whatever OpenSSL left on this thread's error queue (after an expected failure).
void openssl_clear_errors();

template <auto free_fn>
struct openssl_deleter {
    template <class T>
    void operator()(T* p) const noexcept { free_fn(p); }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using x509_req_ptr = std::unique_ptr<X509_REQ, openssl_deleter<X509_REQ_free>>;
using x509_store_ptr = std::unique_ptr<X509_STORE, openssl_deleter<X509_STORE_free>>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, openssl_deleter<X509_STORE_CTX_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free_all>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, openssl_deleter<EVP_PKEY_CTX_free>>;

// A read-only memory BIO over `pem`; the string must outlive the BIO.
bio_ptr memory_bio(std::string_view pem);
// Everything written to a memory BIO, as a string.
std::string bio_contents(BIO& bio);

}  // namespace graft::proto
