#include "coordinator/join/backend.hpp"

namespace graft::coordinator {
namespace {

class static_backend final : public join_backend {
public:
    explicit static_backend(proto::join_spec spec) : spec_(std::move(spec)) {}

    proto::join_spec issue(const node_record& node, const proto::join_request&) override {
        proto::join_spec spec = spec_;
        spec.node_name = node.name;
        return spec;
    }

private:
    const proto::join_spec spec_;
};

}  // namespace

std::unique_ptr<join_backend> make_static_backend(std::string api_server_endpoint, std::string token,
                                                  std::vector<std::string> ca_cert_hashes) {
    proto::join_spec spec;
    spec.api_server_endpoint = std::move(api_server_endpoint);
    spec.token = std::move(token);
    spec.ca_cert_hashes = std::move(ca_cert_hashes);
    return std::make_unique<static_backend>(std::move(spec));
}

}  // namespace graft::coordinator
