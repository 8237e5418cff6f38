// Fuzz target: the CSR parser (PEM, DER, the ECDSA P-256 key and self-signature checks) that every enrollment's
// `csr` field goes through before anything is signed. std::invalid_argument is the right answer to a bad CSR.
#include "proto/pki.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        auto csr = graft::proto::parse_csr(std::string_view(reinterpret_cast<const char*>(data), size));
        (void)graft::proto::spki_pin(*csr.public_key);
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
