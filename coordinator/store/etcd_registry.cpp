// The registry in etcd, for several coordinators serving one fleet. Under the deployment's prefix:
//   tokens/ID            a token (JSON, its secret only hashed)
//   nodes/NAME           a node: its record, certificates, phase history and the sequence of its journal excerpts
//   machine-ids/ID       the name of the node with this machine-id (a machine-id is one node's, as SQLite's UNIQUE)
//   journal/NAME/SEQ     one journal excerpt
//   meta/next-node-number
// (and, written by etcd_presence.cpp, journal-requests/NAME/ID and seen/NAME, which a node's removal takes along)
// Every change reads what it depends on, then commits in one transaction that holds only if none of those keys
// changed since it read them (a compare on each key's mod revision); when another coordinator got there first, the
// change is worked out again from what is there now. That is how an enrollment spends a single-use token once, and
// takes a name once, across every coordinator.
#include "coordinator/store/enrollment_rules.hpp"
#include "coordinator/store/etcd.hpp"
#include "coordinator/store/registry.hpp"
#include "coordinator/store/registry_json.hpp"

#include "proto/crypto.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace graft::coordinator {
namespace {

using json = nlohmann::json;

// One change: the keys it read (and the mod revision each had, 0 when absent) and what it will write.
class change {
public:
    explicit change(etcd_client& client) : client_(client) {}

    std::optional<std::string> get(const std::string& key) {
        auto kv = client_.get(key);
        reads_[key] = kv ? kv->mod_revision : 0;
        if (!kv) return std::nullopt;
        return kv->value;
    }
    void put(const std::string& key, std::string value) { writes_[key] = std::move(value); }
    void erase(const std::string& key) { writes_[key] = std::nullopt; }
    void erase_prefix(const std::string& prefix) { prefix_erasures_.push_back(prefix); }

    // True when it is written (or there was nothing to write); false when a key it read has changed since.
    bool commit(std::int64_t& revision) {
        if (writes_.empty() && prefix_erasures_.empty()) return true;
        std::vector<etcd_compare> compares;
        for (const auto& [key, mod] : reads_) compares.push_back({key, mod});
        std::vector<etcd_op> ops;
        for (const auto& prefix : prefix_erasures_) ops.push_back(etcd_op::erase_prefix(prefix));
        for (auto& [key, value] : writes_) ops.push_back(value ? etcd_op::put(key, *value) : etcd_op::erase(key));
        auto result = client_.txn(compares, ops);
        revision = result.revision;
        return result.succeeded;
    }

private:
    etcd_client& client_;
    std::map<std::string, std::int64_t> reads_;
    std::map<std::string, std::optional<std::string>> writes_;
    std::vector<std::string> prefix_erasures_;
};

class etcd_registry final : public node_registry {
public:
    etcd_registry(etcd_options options, std::string prefix) : client_(std::move(options)), keys_{std::move(prefix)} {
        if (keys_.prefix.empty() || keys_.prefix.back() != '/') keys_.prefix += '/';
        seen_revision_ = client_.revision();
    }

    void add_token(const stored_token& token) override {
        apply([&](change& c) {
            if (c.get(keys_.token(token.id))) throw std::runtime_error("a token with id " + token.id + " exists already");
            c.put(keys_.token(token.id), token_text(token));
            return 0;
        });
    }

    std::vector<stored_token> tokens() override {
        std::vector<stored_token> out;
        for (const auto& kv : client_.get_prefix(keys_.token(""))) out.push_back(token_from(kv.value));
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
            return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
        });
        return out;
    }

    bool revoke_token(const std::string& id, std::int64_t now) override {
        return apply([&](change& c) {
            auto text = c.get(keys_.token(id));
            if (!text) return false;
            auto token = token_from(*text);
            if (!token.revoked_at) {
                token.revoked_at = now;
                c.put(keys_.token(id), token_text(token));
            }
            return true;
        });
    }

    std::size_t purge_tokens(std::int64_t before) override {
        return apply([&](change& c) {
            std::size_t purged = 0;
            for (const auto& kv : client_.get_prefix(keys_.token(""))) {
                const auto token = token_from(kv.value);
                if (token.expires_at < before || (token.revoked_at && *token.revoked_at < before)) {
                    c.get(kv.key);  // compared: a token changed meanwhile is looked at again
                    c.erase(kv.key);
                    ++purged;
                }
            }
            return purged;
        });
    }

    enrollment_result enroll(const enrollment& req) override {
        std::lock_guard one_at_a_time(enroll_mutex_);
        return apply([&](change& c) { return enroll_in(c, req); });
    }

    std::optional<node_record> find(const std::string& name) override {
        auto kv = client_.get(keys_.node(name));
        if (!kv) return std::nullopt;
        return node_from(kv->value).node;
    }

    std::vector<node_record> list() override {
        std::vector<node_record> out;
        for (const auto& kv : client_.get_prefix(keys_.node(""))) out.push_back(node_from(kv.value).node);
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
            return std::tie(a.enrolled_at, a.name) < std::tie(b.enrolled_at, b.name);
        });
        return out;
    }

    std::optional<node_delta> changed_since(std::int64_t revision) override {
        node_delta delta;
        const auto changed = client_.get_prefix(keys_.node(""), {.min_mod_revision = revision ? revision + 1 : 0},
                                                &delta.revision);
        for (const auto& kv : changed) delta.changed.push_back(node_from(kv.value).node);
        delta.total = client_.count_prefix(keys_.node(""), delta.revision);
        return delta;
    }

    bool record_phase(const std::string& name, std::string_view phase, std::string_view reason,
                      const std::optional<std::string>& address, std::int64_t now,
                      const std::optional<std::string>& readiness) override {
        return update(name, [&](stored_node& s) {
            if (s.node.phase != phase || s.node.reason != reason) add_history(s, phase, reason, now);
            s.node.phase = phase;
            s.node.reason = reason;
            if (address) s.node.address = *address;
            if (readiness) s.node.readiness = *readiness;
            s.node.updated_at = now;
            return true;
        });
    }

    bool record_join(const std::string& name, const std::string& display_command, std::int64_t issued_at,
                     std::optional<std::int64_t> expires_at, const std::string& credential) override {
        return update(name, [&](stored_node& s) {
            s.node.join_command = display_command;
            s.node.join_issued_at = issued_at;
            s.node.join_expires_at = expires_at;
            s.node.updated_at = issued_at;
            s.node.join_credential = credential;
            return true;
        });
    }

    bool clear_join_credential(const std::string& name, const std::string& credential) override {
        return update(name, [&](stored_node& s) {
            if (s.node.join_credential != credential) return false;
            s.node.join_credential.clear();
            return true;
        });
    }

    std::string renew(const std::string& name, std::int64_t now,
                      const std::function<std::pair<std::string, std::string>()>& issue) override {
        std::string pem;
        update(name, [&](stored_node& s) {
            if (!s.pending_certificate_pem.empty() && certificate_still_valid(s.pending_certificate_pem, now)) {
                pem = s.pending_certificate_pem;
                return false;
            }
            auto [certificate, serial] = issue();
            s.node.pending_serial = serial;
            s.pending_certificate_pem = certificate;
            s.node.updated_at = now;
            pem = std::move(certificate);
            return true;
        });
        return pem;
    }

    bool promote_certificate(const std::string& name, const std::string& serial) override {
        return update(name, [&](stored_node& s) {
            if (s.node.pending_serial.empty() || s.node.pending_serial != serial) return false;
            s.node.certificate_serial = s.node.pending_serial;
            s.certificate_pem = s.pending_certificate_pem;
            s.node.pending_serial.clear();
            s.pending_certificate_pem.clear();
            return true;
        });
    }

    bool approve(const std::string& name, std::int64_t now) override {
        return decide(name, "enrolled", "approved by an operator", now);
    }

    bool deny(const std::string& name, std::int64_t now) override { return decide(name, "denied", "denied by an operator", now); }

    bool allow_replacement(const std::string& name) override {
        return update(name, [&](stored_node& s) {
            s.node.replace_key_pin = s.node.conflict_key_pin.empty() ? "*" : s.node.conflict_key_pin;
            return true;
        });
    }

    bool remove(const std::string& name) override {
        return apply([&](change& c) {
            auto text = c.get(keys_.node(name));
            if (!text) return false;
            const auto s = node_from(*text);
            c.erase(keys_.node(name));
            // The machine-id is this node's no more (unless it already names another, which it never should).
            if (auto owner = c.get(keys_.machine(s.node.machine_id)); owner && *owner == name) c.erase(keys_.machine(s.node.machine_id));
            c.erase_prefix(keys_.journal(name));
            // What the coordinators told each other of it goes with it.
            c.erase_prefix(keys_.journal_requests(name));
            c.erase(keys_.seen(name));
            return true;
        });
    }

    bool record_steps(const std::string& name, const std::string& steps_json) override {
        return update(name, [&](stored_node& s) {
            s.node.steps_json = steps_json;
            return true;
        });
    }

    bool add_journal(const std::string& name, const std::vector<stored_excerpt>& excerpts, std::size_t keep) override {
        return apply([&](change& c) {
            auto text = c.get(keys_.node(name));
            if (!text) return false;
            auto s = node_from(*text);
            const std::int64_t first_new = s.journal_seq + 1;
            for (const auto& e : excerpts) {
                ++s.journal_seq;
                c.put(keys_.journal(name, s.journal_seq),
                      json{{"unit", e.unit}, {"captured_at", e.captured_at}, {"excerpt", e.excerpt_json}}.dump());
            }
            // The newest `keep` stay: a node failing over and over does not grow the registry. Sequence numbers are
            // dense from 1, so those before journal_seq - keep + 1 go.
            const std::int64_t oldest_kept = s.journal_seq - static_cast<std::int64_t>(keep) + 1;
            for (const auto& kv : client_.get_prefix(keys_.journal(name))) {
                const auto seq = std::stoll(kv.key.substr(keys_.journal(name).size()));
                if (seq < oldest_kept && seq < first_new) c.erase(kv.key);
            }
            for (std::int64_t seq = first_new; seq < oldest_kept; ++seq) c.erase(keys_.journal(name, seq));
            c.put(keys_.node(name), node_text(s));
            return true;
        });
    }

    std::vector<stored_excerpt> journal(const std::string& name) override {
        std::vector<stored_excerpt> out;
        for (const auto& kv : client_.get_prefix(keys_.journal(name))) {
            const auto j = json::parse(kv.value);
            out.push_back({j.at("unit").get<std::string>(), j.at("captured_at").get<std::int64_t>(), j.at("excerpt").get<std::string>()});
        }
        return out;  // the keys' zero-padded sequence numbers sort oldest first
    }

    std::vector<std::tuple<std::string, std::string, std::int64_t>> history(const std::string& name) override {
        std::vector<std::tuple<std::string, std::string, std::int64_t>> out;
        auto kv = client_.get(keys_.node(name));
        if (!kv) return out;
        for (const auto& h : node_from(kv->value).history)
            out.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>(), h.at(2).get<std::int64_t>());
        return out;
    }

    std::optional<std::int64_t> data_version(bool) override {
        // etcd's revision moves by one with every transaction that writes, this coordinator's own too. The
        // revisions this process's own commits got are noted; any other revision since the last look is someone
        // else's write.
        const std::int64_t now = client_.revision();
        std::lock_guard lock(version_mutex_);
        if (now == seen_revision_) return version_;
        bool foreign = false;
        for (std::int64_t r = seen_revision_ + 1; r <= now && !foreign; ++r) foreign = !own_revisions_.contains(r);
        own_revisions_.erase(own_revisions_.begin(), own_revisions_.upper_bound(now));
        seen_revision_ = std::max(seen_revision_, now);
        if (foreign) ++version_;
        return version_;
    }

private:
    // Runs `work` on a fresh change until its transaction commits: each try sees what the one before lost to.
    template <class Work>
    auto apply(Work work) -> decltype(work(std::declval<change&>())) {
        thread_local std::minstd_rand jitter{std::random_device{}()};
        for (int attempt = 0; attempt < 200; ++attempt) {
            change c(client_);
            auto out = work(c);
            std::int64_t revision = 0;
            if (c.commit(revision)) {
                note_own_write(revision);
                return out;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(jitter() % (1000 * (1 + std::min(attempt, 20)))));
        }
        throw registry_unavailable("the etcd registry is too busy: a change lost to others' changes 200 times in a row");
    }

    // A change of one node's stored form; `edit` returns false to write nothing. False when the node is unknown.
    template <class Edit>
    bool update(const std::string& name, Edit edit) {
        return apply([&](change& c) {
            auto text = c.get(keys_.node(name));
            if (!text) return false;
            auto s = node_from(*text);
            if (!edit(s)) return false;
            c.put(keys_.node(name), node_text(s));
            return true;
        });
    }

    bool decide(const std::string& name, std::string_view phase, std::string_view reason, std::int64_t now) {
        return update(name, [&](stored_node& s) {
            if (s.node.phase != "pending_approval") return false;
            s.node.phase = phase;
            s.node.reason = reason;
            s.node.updated_at = now;
            add_history(s, phase, reason, now);
            return true;
        });
    }

    void note_own_write(std::int64_t revision) {
        if (revision == 0) return;  // nothing was written
        std::lock_guard lock(version_mutex_);
        if (revision > seen_revision_) own_revisions_.insert(revision);
    }

    enrollment_result enroll_in(change& c, const enrollment& req) {
        enrollment_result result;
        auto token_text_now = c.get(keys_.token(req.token_id));
        if (!token_text_now) return result;  // unknown
        auto token = token_from(*token_text_now);
        if (!proto::constant_time_equal(token.secret_sha256, proto::sha256_hex(req.token_secret))) {
            result.verdict = token_verdict::wrong_secret;
            return result;
        }
        std::optional<stored_node> existing;
        if (auto owner = c.get(keys_.machine(req.facts.machine_id)))
            if (auto text = c.get(keys_.node(*owner))) existing = node_from(*text);

        // The same enrollment asked again after its answer was lost: the same answer, nothing spent.
        if (existing && !existing->node.key_pin.empty() && existing->node.key_pin == req.key_pin &&
            existing->enrollment_token == req.token_id &&
            (existing->node.phase == "enrolled" || existing->node.phase == "pending_approval" || existing->node.phase == "denied")) {
            result.node = existing->node;
            result.certificate_pem = existing->certificate_pem;
            result.repeated = true;
            if (existing->node.phase == "denied") {
                result.verdict = token_verdict::denied;
                return result;
            }
            if (certificate_still_valid(existing->certificate_pem, req.now)) {
                result.verdict = existing->node.phase == "pending_approval" ? token_verdict::pending_approval : token_verdict::accepted;
                return result;
            }
            result = {};
        }
        result.verdict = token_admits(token, req);
        if (result.verdict != token_verdict::accepted) return result;

        std::string name;
        stored_node s;
        if (existing) {
            name = existing->node.name;
            result.returning = true;
            switch (returning_machine(req, existing->node)) {
            case returning_kind::denied:
                result.verdict = token_verdict::denied;
                result.node = existing->node;
                return result;
            case returning_kind::conflict: {
                auto note = describe_conflict(req, existing->node);
                existing->node.conflict = note.text;
                existing->node.conflict_key_pin = note.key_pin;
                c.put(keys_.node(name), node_text(*existing));
                result.verdict = note.verdict;
                result.node = existing->node;
                return result;
            }
            case returning_kind::new_key: result.replaced = true; break;
            case returning_kind::same_key: break;
            }
            s = *existing;
        } else {
            // Skip numbers whose name someone already holds, and names of Nodes the cluster already has.
            auto counter = c.get(keys_.counter());
            std::int64_t next = counter ? std::stoll(*counter) : 1;
            for (;; ++next) {
                std::string candidate = req.name_prefix + "-" + std::to_string(next);
                if (!c.get(keys_.node(candidate)) && !(req.name_taken && req.name_taken(candidate))) {
                    name = std::move(candidate);
                    break;
                }
            }
            c.put(keys_.counter(), std::to_string(next + 1));
            s.node.name = name;
            s.node.machine_id = req.facts.machine_id;
            c.put(keys_.machine(req.facts.machine_id), name);
        }
        const bool needs_approval = token.approval == approval_mode::required && (!existing || existing->node.phase == "pending_approval");
        const std::string phase = needs_approval ? "pending_approval" : "enrolled";
        auto [certificate_pem, certificate_serial] = req.issue_certificate(name);

        auto& n = s.node;
        n.serial = req.facts.serial;
        n.model = req.facts.model;
        n.arch = req.facts.arch;
        n.address = req.address;
        n.facts_json = req.facts.to_json().dump();
        n.phase = phase;
        n.reason.clear();
        n.certificate_serial = certificate_serial;
        n.enrolled_at = n.updated_at = req.now;
        n.join_command.clear();
        n.join_issued_at.reset();
        n.join_expires_at.reset();
        n.key_pin = req.key_pin;
        n.conflict.clear();
        n.conflict_key_pin.clear();
        n.replace_key_pin.clear();
        n.pending_serial.clear();
        n.readiness.clear();
        s.certificate_pem = certificate_pem;
        s.pending_certificate_pem.clear();
        s.enrollment_token = req.token_id;
        add_history(s, phase, "", req.now);
        c.put(keys_.node(name), node_text(s));

        if (token.uses_left) --*token.uses_left;
        ++token.used;
        c.put(keys_.token(req.token_id), token_text(token));

        result.verdict = needs_approval ? token_verdict::pending_approval : token_verdict::accepted;
        result.certificate_pem = std::move(certificate_pem);
        result.node = n;
        return result;
    }

    etcd_client client_;
    etcd_layout keys_;  // every key under the deployment's prefix
    // Enrollments from this process go one at a time: they all change the token's use count and the name counter,
    // and taking turns here is cheaper than losing the transaction to each other and trying again. Coordinators
    // still race each other, and the transaction's compares settle that.
    std::mutex enroll_mutex_;
    std::mutex version_mutex_;
    std::int64_t seen_revision_ = 0;
    std::set<std::int64_t> own_revisions_;  // of this process's commits after seen_revision_
    std::int64_t version_ = 0;
};

}  // namespace

std::unique_ptr<node_registry> open_etcd_registry(etcd_options options, std::string prefix) {
    return std::make_unique<etcd_registry>(std::move(options), std::move(prefix));
}

}  // namespace graft::coordinator
