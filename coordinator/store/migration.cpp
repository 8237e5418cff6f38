#include "coordinator/store/migration.hpp"

#include "coordinator/store/registry_json.hpp"

#include <algorithm>

namespace graft::coordinator {

using json = nlohmann::json;

json export_etcd_registry(etcd_client& etcd, const std::string& prefix) {
    std::int64_t revision = 0;
    auto everything = etcd.get_prefix(prefix, &revision);
    json tokens = json::array(), nodes = json::array(), journal = json::object();
    std::int64_t next = 1;
    for (const auto& kv : everything) {
        const std::string key = kv.key.substr(prefix.size());
        if (key.starts_with("tokens/")) {
            tokens.push_back(json::parse(token_text(token_from(kv.value))));
        } else if (key.starts_with("nodes/")) {
            nodes.push_back(json::parse(node_text(node_from(kv.value))));
        } else if (key.starts_with("journal/")) {
            const std::string name = key.substr(8, key.find('/', 8) - 8);
            journal[name].push_back(json::parse(kv.value));
        } else if (key == "meta/next-node-number") {
            next = std::stoll(kv.value);
        }
    }
    // Keys come in byte order, which is the order of ids and names.
    return {{"next_node_number", next}, {"tokens", tokens}, {"nodes", nodes}, {"journal", journal}};
}

void import_etcd_registry(etcd_client& etcd, const std::string& prefix, const json& contents) {
    const etcd_layout at_key{prefix};
    std::vector<std::pair<std::string, std::string>> keys;
    keys.emplace_back(at_key.counter(), std::to_string(contents.at("next_node_number").get<std::int64_t>()));
    for (const auto& t : contents.at("tokens")) keys.emplace_back(at_key.token(t.at("id").get<std::string>()), t.dump());
    for (const auto& n : contents.at("nodes")) {
        const std::string name = n.at("name");
        keys.emplace_back(at_key.node(name), n.dump());
        keys.emplace_back(at_key.machine(n.at("machine_id").get<std::string>()), name);
    }
    for (const auto& [name, excerpts] : contents.at("journal").items()) {
        std::int64_t seq = 0;
        for (const auto& e : excerpts) keys.emplace_back(at_key.journal(name, ++seq), e.dump());
    }
    // In transactions of up to 64 keys (128 operations is etcd's default limit), each key created only if absent.
    for (std::size_t at = 0; at < keys.size(); at += 64) {
        std::vector<etcd_compare> absent;
        std::vector<etcd_op> puts;
        for (std::size_t i = at; i < std::min(keys.size(), at + 64); ++i) {
            absent.push_back({keys[i].first, 0});
            puts.push_back(etcd_op::put(keys[i].first, keys[i].second));
        }
        if (!etcd.txn(absent, puts).succeeded)
            throw std::runtime_error("etcd holds keys under " + prefix + " already (one of " + keys[at].first + " ...): "
                                     "migrate into a prefix no fleet uses");
    }
}

}  // namespace graft::coordinator
