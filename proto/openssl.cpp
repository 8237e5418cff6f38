#include "proto/openssl.hpp"

#include <openssl/err.h>

#include <climits>

namespace graft::proto {

void openssl_check(bool ok, std::string_view call) {
    if (ok) return;
    std::string message = std::string(call) + " failed";
    while (unsigned long code = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        message += ": ";
        message += buf;
    }
    throw openssl_error(message);
}

void openssl_clear_errors() { ERR_clear_error(); }

bio_ptr memory_bio(std::string_view pem) {
    openssl_check(pem.size() <= INT_MAX, "BIO_new_mem_buf (input too large)");
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    openssl_check(bio != nullptr, "BIO_new_mem_buf");
    return bio;
}

std::string bio_contents(BIO& bio) {
    char* data = nullptr;
    long len = BIO_get_mem_data(&bio, &data);
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace graft::proto
