// Fuzz target: the kubeconfig reader (YAML through yaml-cpp, base64 data fields, contexts, users). A
// std::runtime_error naming the field is the right answer to a bad file; file references point into an empty
// directory, so a path in the input reads nothing of this machine's.
#include "coordinator/kube/kubeconfig.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        (void)graft::coordinator::parse_kubeconfig(std::string_view(reinterpret_cast<const char*>(data), size),
                                                   "fuzz.conf", "/nonexistent-graft-fuzz");
    } catch (const std::exception&) {
    }
    return 0;
}
