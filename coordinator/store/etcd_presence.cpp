#include "coordinator/store/etcd_presence.hpp"

#include "coordinator/store/registry_json.hpp"

#include "proto/crypto.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

namespace graft::coordinator {
namespace {

using json = nlohmann::json;

std::string request_text(const journal_requests::request& r) {
    return json{{"unit", r.unit}, {"lines", r.lines}, {"asked_by", r.asked_by}, {"asked_at", r.asked_at},
                {"state", to_string(r.state)}}
        .dump();
}

// A request as kept under `key`, whose last part is its id; nullopt for a value this version cannot read (another
// version's, or damaged), which is left alone as though it were not there.
std::optional<journal_requests::request> request_from(const std::string& node, const etcd_kv& kv) {
    try {
        const auto v = json::parse(kv.value);
        journal_requests::request r;
        r.id = kv.key.substr(kv.key.rfind('/') + 1);
        r.node = node;
        r.unit = v.at("unit").get<std::string>();
        r.lines = v.at("lines").get<std::size_t>();
        r.asked_by = v.at("asked_by").get<std::string>();
        r.asked_at = v.at("asked_at").get<std::int64_t>();
        const auto state = journal_request_state_from(v.at("state").get<std::string>());
        if (!state) return std::nullopt;
        r.state = *state;
        return r;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

class etcd_journal_requests final : public journal_requests {
public:
    etcd_journal_requests(etcd_options options, std::string prefix)
        : etcd_(std::move(options)), keys_{std::move(prefix)} {}

    std::optional<request> ask(const std::string& node, std::string unit, std::size_t lines, std::string asked_by,
                               std::int64_t now) override {
        std::size_t waiting = 0;
        for (const auto& kv : etcd_.get_prefix(keys_.journal_requests(node)))
            if (auto r = request_from(node, kv); r && r->state != state::answered) ++waiting;
        if (waiting >= max_pending) return std::nullopt;
        request r{proto::random_hex(8), node, std::move(unit), lines, std::move(asked_by), now, state::pending};
        const auto lease = etcd_.lease_grant(std::chrono::seconds(kept_seconds));
        etcd_.txn({}, {etcd_op::put(keys_.journal_request(node, r.id), request_text(r), lease)});
        return r;
    }

    std::vector<request> take(const std::string& node, std::int64_t) override {
        std::vector<request> out;
        for (const auto& kv : etcd_.get_prefix(keys_.journal_requests(node))) {
            auto r = request_from(node, kv);
            if (!r || r->state != state::pending) continue;
            r->state = state::taken;
            // Taken once: of two heartbeats of the node at the same moment (through two coordinators), one wins.
            if (moved(kv, *r)) out.push_back(std::move(*r));
        }
        return out;
    }

    bool answered(const std::string& node, const std::string& id) override {
        // Tried again while a heartbeat through another coordinator moves the same request.
        for (int attempt = 0; attempt < 5; ++attempt) {
            auto kv = etcd_.get(keys_.journal_request(node, id));
            if (!kv) return false;
            auto r = request_from(node, *kv);
            if (!r) return false;
            r->state = state::answered;
            if (moved(*kv, *r)) return true;
        }
        return true;  // it is there, and others keep moving it: the upload is kept whatever its state says
    }

    std::optional<request> find(const std::string& node, const std::string& id) override {
        auto kv = etcd_.get(keys_.journal_request(node, id));
        if (!kv) return std::nullopt;
        return request_from(node, *kv);
    }

private:
    // Writes `r` over `kv` if nobody changed it since it was read (a lapsed lease deletes it, which fails this too).
    bool moved(const etcd_kv& kv, const request& r) {
        return etcd_.txn({{kv.key, kv.mod_revision}}, {etcd_op::put(kv.key, request_text(r), kv.lease)}).succeeded;
    }

    etcd_client etcd_;
    etcd_layout keys_;
};

}  // namespace

std::unique_ptr<journal_requests> open_etcd_journal_requests(etcd_options options, std::string prefix) {
    return std::make_unique<etcd_journal_requests>(std::move(options), std::move(prefix));
}

shared_last_seen::shared_last_seen(etcd_options options, std::string prefix)
    : etcd_(std::make_unique<etcd_client>(std::move(options))), prefix_(std::move(prefix)) {}

shared_last_seen::~shared_last_seen() = default;

shared_last_seen::heard shared_last_seen::exchange(const heard& here) {
    const etcd_layout keys{prefix_};
    // etcd takes at most 128 operations in a transaction.
    constexpr std::size_t per_txn = 100;
    for (std::size_t at = 0; at < here.size(); at += per_txn) {
        std::vector<etcd_op> puts;
        for (std::size_t i = at; i < std::min(here.size(), at + per_txn); ++i)
            puts.push_back(etcd_op::put(keys.seen(here[i].first), std::to_string(here[i].second)));
        etcd_->txn({}, puts);
    }
    std::int64_t revision = 0;
    etcd_client::range_options since;
    since.min_mod_revision = revision_ + 1;
    const auto changed = etcd_->get_prefix(keys.seen(), since, &revision);
    heard out;
    for (const auto& kv : changed) {
        std::int64_t t = 0;
        const auto* end = kv.value.data() + kv.value.size();
        if (auto [p, ec] = std::from_chars(kv.value.data(), end, t); ec != std::errc{} || p != end || t <= 0) continue;
        out.emplace_back(kv.key.substr(keys.seen().size()), t);
    }
    revision_ = revision;
    return out;
}

}  // namespace graft::coordinator
