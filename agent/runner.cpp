#include "agent/runner.hpp"

#include "agent/backoff.hpp"
#include "agent/config.hpp"
#include "agent/configure.hpp"
#include "agent/health.hpp"
#include "agent/journal.hpp"
#include "agent/system/live_system.hpp"
#include "agent/steps/kubelet_flags.hpp"
#include "agent/state.hpp"
#include "agent/system/facts.hpp"
#include "proto/crypto.hpp"
#include "proto/files.hpp"
#include "proto/https_client.hpp"
#include "proto/log.hpp"
#include "proto/message_ids.hpp"
#include "proto/pki.hpp"
#include "proto/subprocess.hpp"
#include "proto/systemd.hpp"
#include "proto/time.hpp"
#include "proto/tls.hpp"
#include "proto/version.hpp"
#include "proto/watchdog.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <system_error>

namespace graft::agent {
namespace {

namespace net = boost::asio;
using verb = boost::beast::http::verb;

// The coordinator said no in a way retrying cannot change.
struct refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string error_message(const proto::http_result& r) {
    try {
        return proto::error_body::from_json(proto::parse_json(r.body)).message;
    } catch (const std::exception&) {
        return "HTTP " + std::to_string(r.status);
    }
}

std::string error_code(const proto::http_result& r) {
    try {
        return proto::error_body::from_json(proto::parse_json(r.body)).code;
    } catch (const std::exception&) {
        return {};
    }
}

// The wait a Retry-After header of whole seconds asks for, or `fallback`.
std::chrono::milliseconds retry_after(const proto::http_result& r, std::chrono::milliseconds fallback) {
    const std::string& s = r.retry_after;
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return fallback;
    return std::chrono::milliseconds(std::stoll(s.substr(0, 6)) * 1000);
}

// A client certificate the coordinator sent (`what` names it in the refusal) is for this node's key and chains to the
// coordinator's CA.
void check_node_certificate(X509& cert, EVP_PKEY& key, X509& ca, const std::string& what) {
    if (!proto::certificate_matches_key(cert, key)) throw refused(what + " is not for this node's key");
    if (auto why = proto::verify_certificate(cert, ca, proto::certificate_use::client); !why.empty())
        throw refused(what + " does not verify against the coordinator's CA: " + why);
}

// Writes a new random machine-id under `root`, as systemd does on a first boot with an empty /etc/machine-id, and
// into D-Bus's copy when it is a file of its own rather than a link. Returns it.
std::string make_fresh_machine_id(const std::string& root) {
    const std::string id = proto::random_hex(16);
    proto::write_file_atomic(root + "/etc/machine-id", id + "\n", 0444);
    const std::filesystem::path dbus = root + "/var/lib/dbus/machine-id";
    std::error_code ec;
    if (std::filesystem::is_regular_file(std::filesystem::symlink_status(dbus, ec)))
        proto::write_file_atomic(dbus.string(), id + "\n", 0444);
    return id;
}

class agent_run {
public:
    agent_run(const run_options& options, boot_config config)
        : options_(options), config_(std::move(config)), store_(options.root),
          retry_(options.backoff_initial, options.backoff_cap) {
        for (const auto& url : config_.urls()) endpoints_.push_back(proto::parse_https_url(url));
        endpoint_ = endpoints_.front();
    }

    net::awaitable<int> run() {
        store_.prepare();
        state_ = store_.load();
        if (!state_.coordinator.empty() && state_.coordinator != config_.coordinator)
            throw refused("this node enrolled with " + state_.coordinator + " but graft.json now names " +
                          config_.coordinator + "; move " + store_.dir() + " aside to enroll it afresh");

        if (store_.has("board.json")) leave_if_cloned();

        if (state_.phase == proto::phase::booted || state_.node_name.empty() || !store_.has("node.crt")) {
            co_await enroll();
        } else {
            proto::log_info("resuming as " + state_.node_name + " (" + std::string(proto::to_string(state_.phase)) + ")",
                            {{"GRAFT_NODE", state_.node_name}, {"GRAFT_PHASE", std::string(proto::to_string(state_.phase))}});
            // An agent from before boards were recorded notes the one it runs on now.
            if (!store_.has("board.json")) store_.write("board.json", gather_facts(options_.root).to_json().dump(), 0600);
        }
        use_node_identity();
        co_await renew_if_due(false);

        if (state_.phase == proto::phase::ready) {
            proto::log_info("node " + state_.node_name + " is Ready; nothing to prepare or join",
                            {{"GRAFT_NODE", state_.node_name}});
            const std::string how = "Ready";
            co_return co_await watch_over(how);
        }
        if (state_.phase != proto::phase::joined) {
            // Host preparation is idempotent, so it runs on every start until the node has joined.
            if (auto stop = co_await configure()) co_return *stop;
            if (int failed = co_await join()) co_return failed;
        }
        co_return co_await await_ready();
    }

    // Whether blocking work (host preparation, a join, journalctl) is running off the event loop now.
    bool busy() const { return busy_.load(); }

private:
    // Runs `work` on the agent's worker thread and resumes here with its result: host preparation and a join may
    // take minutes, and the event loop goes on answering SIGTERM and the watchdog meanwhile.
    template <class Work>
    net::awaitable<std::invoke_result_t<Work&>> off_loop(Work work) {
        using result = std::invoke_result_t<Work&>;
        struct flag {
            std::atomic<bool>& busy;
            explicit flag(std::atomic<bool>& b) : busy(b) { busy = true; }
            ~flag() { busy = false; }
        } running(busy_);
        co_return co_await net::co_spawn(worker_, [&]() -> net::awaitable<result> { co_return work(); }, net::use_awaitable);
    }

    // The last lines of `units`' journals, sent to the coordinator (unasked after a failure, or for a request).
    // Best effort: a node that cannot send them says so in its own journal and goes on.
    net::awaitable<void> send_journal(std::vector<std::string> units, std::string cause, std::size_t lines = 60,
                                      std::string request_id = {}) {
        journal_reader reader{options_.journalctl, options_.root};
        proto::journal_upload upload;
        upload.request_id = std::move(request_id);
        // Several units share one request, which must stay under the coordinator's body limit.
        const std::size_t each = (proto::max_body_bytes - 4096) / std::max<std::size_t>(1, units.size());
        upload.excerpts = co_await off_loop([&] {
            std::vector<proto::journal_excerpt> out;
            for (const auto& unit : units) out.push_back(read_journal(reader, unit, lines, cause, each));
            // A unit with nothing in the journal (docker on a containerd node) is left out, unless all are empty.
            std::vector<proto::journal_excerpt> said;
            for (auto& e : out)
                if (!e.empty) said.push_back(std::move(e));
            return said.empty() ? out : said;
        });
        try {
            auto res = co_await request(node_tls_->context(), verb::post, "/v1/nodes/" + state_.node_name + "/journal",
                                        upload.to_json().dump(-1, ' ', false, proto::json::error_handler_t::replace),
                                        "sending journal excerpts", false);
            if (res.status != 200)
                proto::log_warning("the coordinator did not take this node's journal excerpts: " + error_message(res),
                                   {{"GRAFT_NODE", state_.node_name}});
        } catch (const std::exception& e) {
            proto::log_warning(std::string("cannot send journal excerpts: ") + e.what(), {{"GRAFT_NODE", state_.node_name}});
        }
    }

    // The node's work is done: stay, small and mostly idle, sending a heartbeat (the coordinator's last-seen time)
    // and answering journal requests an operator queued, until a signal stops the agent.
    net::awaitable<int> watch_over(const std::string& how) {
        if (options_.exit_when_ready) co_return 0;
        const std::string heartbeat_path = "/v1/nodes/" + state_.node_name + "/heartbeat", heartbeat_body = "{}",
                          heartbeat_what = "sending a heartbeat";
        const auto ms = options_.heartbeat_interval.count();
        const std::string every = ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
        proto::notify("STATUS=Watching over " + state_.node_name + " (" + how + "): a heartbeat every " + every +
                      ", the journal when an operator asks");
        proto::log_info("watching over " + state_.node_name + " (" + how + "): a heartbeat to the coordinator every " +
                            every + ", and journal excerpts when an operator asks for them",
                        {{"GRAFT_NODE", state_.node_name}});
        for (;;) {
            // `graft-agent renew` (its timer) may have renewed the certificate meanwhile: the new one speaks from now.
            if (store_.read("node.crt") != identity_pem_) use_node_identity();
            auto res = co_await request(node_tls_->context(), verb::post, heartbeat_path, heartbeat_body, heartbeat_what,
                                        false);
            if (res.status == 401 || res.status == 403 || res.status == 404)
                throw refused("the coordinator no longer takes this node's heartbeat: " + error_message(res));
            if (res.status == 200) {
                std::vector<std::tuple<std::string, std::string, std::size_t>> asked;
                try {
                    const auto body = proto::parse_json(res.body);
                    for (const auto& r : body.at("journal_requests"))
                        asked.emplace_back(r.at("id").get<std::string>(), r.value("unit", ""),
                                           r.value("lines", std::size_t{200}));
                } catch (const std::exception& e) {
                    proto::log_warning(std::string("the coordinator's answer to a heartbeat is malformed: ") + e.what(),
                                       {{"GRAFT_NODE", state_.node_name}});
                }
                // Named locals for the coroutine's arguments: GCC 12 miscompiles literals and ?: temporaries there.
                const std::string cause = "asked for by an operator";
                for (const auto& one : asked) {
                    const std::string id = std::get<0>(one);
                    std::vector<std::string> units{std::get<1>(one)};
                    if (units.front().empty()) units = relevant_units(state_.flavour);
                    proto::log_info("sending journal excerpts an operator asked for (request " + id + ")",
                                    {{"GRAFT_NODE", state_.node_name}});
                    co_await send_journal(units, cause, std::get<2>(one), id);
                }
            }
            co_await renew_if_due(false);
            net::steady_timer timer(co_await net::this_coro::executor, options_.heartbeat_interval);
            co_await timer.async_wait(net::use_awaitable);
        }
    }

    // One request, retried with backoff while the coordinator is unreachable, overloaded or failing (5xx, 429).
    // A 4xx answer is final and comes back to the caller.
    // Parameters are taken by value: the coroutine frame owns them for as long as the retries take.
    // With `retry_server_errors` false, a 5xx answer comes back to the caller too.
    net::awaitable<proto::http_result> request(net::ssl::context& tls, verb method, std::string target, std::string body,
                                               std::string what, bool retry_server_errors = true) {
        for (bool reported = false;;) {
            std::string problem;
            std::optional<proto::http_result> result;
            try {
                // The node's calls in a row (a report, then the join) share one connection.
                if (node_connection_ && node_tls_ && &tls == &node_tls_->context())
                    result = co_await node_connection_->call(method, target, body, options_.request_timeout);
                else
                    result = co_await proto::https_call(tls, endpoint_, method, target, body, options_.request_timeout);
            } catch (const std::exception& e) {
                // A system_error's what() carries Asio's source location; the code's message is what a reader wants.
                auto* failure = dynamic_cast<const boost::system::system_error*>(&e);
                problem = failure ? failure->code().message() : e.what();
                if (problem.find("certificate verify failed") != std::string::npos)
                    problem += " (the coordinator's certificate does not chain to the CA pinned in graft.json, "
                               "or does not name " + endpoint_.host + ")";
                // A static graft-agent has only glibc's files and dns sources (docs/architecture.md).
                if (auto* error = dynamic_cast<const boost::system::system_error*>(&e);
                    error && (error->code() == net::error::host_not_found || error->code() == net::error::host_not_found_try_again))
                    problem += " (cannot resolve " + endpoint_.host + ": graft-agent looks names up in /etc/hosts and DNS "
                               "only, not through mDNS (.local names); put an IP address or a DNS name in graft.json)";
            }
            if (result && ((result->status < 500 && result->status != 429) || !retry_server_errors)) {
                retry_.reset();
                failures_in_row_ = 0;
                co_return *result;
            }
            if (result) problem = "HTTP " + std::to_string(result->status) + ": " + error_message(*result);
            // With several coordinators, the next one is asked at once; only after each has failed in turn does the
            // agent wait.
            if (endpoints_.size() > 1) {
                const std::string from = endpoint_.host + ":" + endpoint_.port;
                move_to_next_coordinator();
                if (++failures_in_row_ % endpoints_.size() != 0) {
                    proto::log(reported ? proto::log_level::debug : proto::log_level::warning,
                               what + " failed at " + from + " (" + problem + "); asking the coordinator at " +
                                   endpoint_.host + ":" + endpoint_.port + " instead",
                               {{"GRAFT_NODE", state_.node_name}}, proto::message_id::coordinator_unreachable);
                    reported = true;
                    continue;
                }
            }
            auto wait = retry_.next();
            if (result) wait = std::max(wait, retry_after(*result, wait));
            // The first failure in a row is a warning; the rest would only repeat it.
            auto level = reported ? proto::log_level::debug : proto::log_level::warning;
            proto::log(level, what + " failed, retrying in " + std::to_string(wait.count()) + " ms: " + problem,
                       {{"GRAFT_NODE", state_.node_name}}, proto::message_id::coordinator_unreachable);
            reported = true;
            net::steady_timer timer(co_await net::this_coro::executor, wait);
            co_await timer.async_wait(net::use_awaitable);
        }
    }

    void enter(proto::phase p, std::string message = {}) {
        state_.enter(p, std::move(message));
        store_.save(state_);
        const std::string phase(proto::to_string(p));
        proto::notify("STATUS=" + phase + (state_.node_name.empty() ? "" : " as " + state_.node_name));
    }

    // Enrolls, waiting as long as it takes for an operator's approval or decision on a conflict; a card the
    // coordinator finds cloned makes itself a fresh machine-id first.
    net::awaitable<void> enroll() {
        // The key is made once and kept, so an agent restarted mid-enrollment asks with the same key.
        if (!store_.has("node.key")) store_.write("node.key", proto::private_key_pem(*proto::generate_p256_key()), 0600);
        auto key = proto::private_key_from_pem(store_.read("node.key"));
        auto pinned = proto::client_tls::pinned(config_.ca_pin);
        proto::notify("STATUS=Enrolling with " + config_.coordinator);
        proto::log_info("enrolling with " + config_.coordinator, {{"GRAFT_PHASE", "booted"}});

        proto::hardware_facts facts;
        proto::http_result res;
        for (std::string waiting_for;;) {
            facts = gather_facts(options_.root);
            facts.cloned_from = cloned_from_;
            proto::enroll_request req;
            req.protocol_version = proto::protocol_version;
            req.enrollment_token = config_.enrollment_token;
            req.csr_pem = proto::make_csr_pem(*key, facts.hostname);
            req.facts = facts;
            res = co_await request(pinned->context(), verb::post, "/v1/enroll", req.to_json().dump(), "enrollment");
            const std::string code = res.status == 202 ? "pending_approval" : error_code(res);
            if (res.status == 409 && code == "machine_id_cloned" && !cloned_from_) {
                cloned_from_ = facts.machine_id;
                const std::string fresh = make_fresh_machine_id(options_.root);
                proto::log_warning("the coordinator says this card is a clone of another board's (" + error_message(res) +
                                       "); made a fresh machine-id " + fresh + " and enrolling as a new node",
                                   {{"GRAFT_MACHINE_ID", fresh}}, proto::message_id::cloned_card);
                continue;
            }
            if (res.status != 202 && !(res.status == 409 && code == "identity_conflict")) break;
            // Waiting for an operator: said once, then asked again quietly.
            if (code != waiting_for) {
                const std::string why = res.status == 202 ? "this node waits for an operator's approval"
                                                          : "the coordinator refused this machine's key: " + error_message(res);
                proto::log_warning(why + "; asking again until it is settled", {{"GRAFT_PHASE", "booted"}},
                                   res.status == 202 ? proto::message_id::approval_needed : proto::message_id::identity_conflict);
                proto::notify("STATUS=" + why.substr(0, 200));
                waiting_for = code;
            }
            // As the coordinator asks, but never longer than --retry-max-ms.
            const auto wait = std::min(retry_after(res, std::chrono::seconds(30)), options_.backoff_cap);
            net::steady_timer timer(co_await net::this_coro::executor, wait);
            co_await timer.async_wait(net::use_awaitable);
        }
        if (res.status != 200) throw refused("the coordinator refused enrollment: " + error_message(res));

        proto::enroll_response body;
        try {
            body = proto::enroll_response::from_json(proto::parse_json(res.body));
        } catch (const proto::validation_error& e) {
            throw refused(std::string("the coordinator's enrollment answer is malformed: ") + e.what());
        }
        auto ca = proto::certificate_from_pem(body.ca_certificate_pem);
        auto cert = proto::certificate_from_pem(body.certificate_pem);
        if (proto::spki_pin(*ca) != config_.ca_pin)
            throw refused("the CA certificate in the enrollment answer does not match ca_pin in graft.json");
        check_node_certificate(*cert, *key, *ca, "the certificate in the enrollment answer");

        store_.write("ca.crt", body.ca_certificate_pem, 0644);
        store_.write("node.crt", body.certificate_pem, 0644);
        // The board this identity belongs to: a card that later boots on another one knows it is a clone.
        store_.write("board.json", facts.to_json().dump(), 0600);
        state_.node_name = body.node_name;
        state_.coordinator = config_.coordinator;
        state_.flavour = body.profile.flavour;
        enter(proto::phase::enrolled);
        proto::log_info("enrolled as " + body.node_name, {{"GRAFT_NODE", body.node_name}, {"GRAFT_PHASE", "enrolled"}},
                        proto::message_id::node_enrolled);
    }

    // A card whose identity was made on another board (copied with dd after its first boot) leaves that identity to
    // the original: it makes a fresh machine-id, moves the node's key, certificate and state aside, and enrolls anew.
    void leave_if_cloned() {
        proto::hardware_facts recorded;
        try {
            recorded = proto::hardware_facts::from_json(proto::parse_json(store_.read("board.json")));
        } catch (const proto::validation_error& e) {
            throw refused(store_.path("board.json") + " is damaged (" + e.what() + "); remove it to record this board afresh");
        }
        const proto::hardware_facts here = gather_facts(options_.root);
        if (proto::same_board(recorded, here)) return;
        const std::string original = state_.node_name.empty() ? "another node" : state_.node_name;
        const std::string aside = store_.path("cloned-from-" + (state_.node_name.empty() ? recorded.machine_id : state_.node_name));
        std::filesystem::create_directories(aside);
        for (const char* file : {"node.key", "node.crt", "ca.crt", "state.json", "board.json"})
            if (store_.has(file)) std::filesystem::rename(store_.path(file), aside + "/" + file);
        cloned_from_ = recorded.machine_id;
        const std::string fresh = here.machine_id == recorded.machine_id ? make_fresh_machine_id(options_.root) : here.machine_id;
        proto::log_warning("this card was cloned from " + original + "'s, made on another board (serial '" + recorded.serial +
                               "', this one '" + here.serial + "'); its identity is moved to " + aside +
                               ", and with the fresh machine-id " + fresh + " this board enrolls as a new node",
                           {{"GRAFT_NODE", original}, {"GRAFT_MACHINE_ID", fresh}}, proto::message_id::cloned_card);
        state_ = agent_state{};
    }

    void move_to_next_coordinator() {
        current_ = (current_ + 1) % endpoints_.size();
        endpoint_ = endpoints_[current_];
        if (node_tls_) node_connection_ = std::make_unique<proto::https_connection>(node_tls_->context(), endpoint_);
    }

    void use_node_identity() {
        node_connection_.reset();  // it holds the context it is replacing
        node_tls_ = proto::client_tls::trusting(store_.read("ca.crt"));
        identity_pem_ = store_.read("node.crt");
        node_tls_->use_identity(identity_pem_, store_.read("node.key"));
        node_connection_ = std::make_unique<proto::https_connection>(node_tls_->context(), endpoint_);
    }

    // Renews the node's certificate, with the same key, over the current one, once it is due (or when forced).
    // Returns whether it did.
    net::awaitable<bool> renew_if_due(bool force) {
        auto current = proto::certificate_from_pem(store_.read("node.crt"));
        std::uniform_real_distribution<double> jitter(0.0, 1.0);
        std::random_device random;
        if (!force && !renewal_due(proto::not_before(*current), proto::not_after(*current), std::chrono::system_clock::now(),
                                   jitter(random)))
            co_return false;
        auto key = proto::private_key_from_pem(store_.read("node.key"));
        const std::string body = proto::renew_request{proto::make_csr_pem(*key, state_.node_name)}.to_json().dump();
        auto res = co_await request(node_tls_->context(), verb::post, "/v1/nodes/" + state_.node_name + "/renew", body,
                                    "renewing the certificate");
        if (res.status != 200) throw refused("the coordinator refused to renew this node's certificate: " + error_message(res));
        proto::renew_response renewed;
        try {
            renewed = proto::renew_response::from_json(proto::parse_json(res.body));
        } catch (const proto::validation_error& e) {
            throw refused(std::string("the coordinator's renewal answer is malformed: ") + e.what());
        }
        auto cert = proto::certificate_from_pem(renewed.certificate_pem);
        auto ca = proto::certificate_from_pem(store_.read("ca.crt"));
        check_node_certificate(*cert, *key, *ca, "the renewed certificate");
        if (proto::subject_common_name(*cert) != state_.node_name)
            throw refused("the renewed certificate names " + proto::subject_common_name(*cert) + ", not " + state_.node_name);
        store_.write("node.crt", renewed.certificate_pem, 0644);
        use_node_identity();
        proto::log_info("renewed this node's certificate; it is valid until " + proto::to_rfc3339(proto::not_after(*cert)),
                        {{"GRAFT_NODE", state_.node_name}}, proto::message_id::certificate_renewed);
        co_return true;
    }

public:
    // `graft-agent renew`: the renewal alone, for a node that has enrolled.
    net::awaitable<int> renew_only(bool force) {
        state_ = store_.load();
        if (state_.node_name.empty() || !store_.has("node.crt"))
            throw refused("this node has not enrolled yet (no " + store_.path("node.crt") + "): there is nothing to renew");
        use_node_identity();
        const bool renewed = co_await renew_if_due(force);
        if (!renewed) {
            auto cert = proto::certificate_from_pem(store_.read("node.crt"));
            std::cout << "the certificate of " << state_.node_name << " is valid until "
                      << proto::to_rfc3339(proto::not_after(*cert)) << "; not due for renewal yet\n";
        }
        co_return 0;
    }

private:

    // Reports a phase; returns the coordinator's view of the node, which has the cluster's word on readiness.
    net::awaitable<proto::node_status> report(proto::phase p, std::string message,
                                              std::optional<std::string> address = std::nullopt,
                                              std::vector<proto::step_outcome> steps = {}) {
        proto::node_report rep{p, std::move(message), std::move(address), std::move(steps)};
        auto res = co_await request(node_tls_->context(), verb::post, "/v1/nodes/" + state_.node_name + "/report",
                                    rep.to_json().dump(), "reporting " + std::string(proto::to_string(p)));
        if (res.status != 200) throw refused("the coordinator refused this node's report: " + error_message(res));
        try {
            co_return proto::node_status::from_json(proto::parse_json(res.body));
        } catch (const proto::validation_error& e) {
            throw refused(std::string("the coordinator's answer to a report is malformed: ") + e.what());
        }
    }

    // Prepares the host; an exit code when the agent must stop here (failed, or a reboot is under way).
    net::awaitable<std::optional<int>> configure() {
        const bool resuming_reboot = state_.phase == proto::phase::rebooting;
        enter(proto::phase::configuring);
        const std::string note = resuming_reboot ? "resumed after the reboot" : "";
        co_await report(proto::phase::configuring, note);
        const host h(options_.root);
        host_profile profile;
        profile.node_name = state_.node_name;
        profile.coordinator = config_.coordinator;
        // Actions on the running system only when the root is the running system's.
        std::unique_ptr<live_system> live;
        if (h.is_running_system()) live = connect_live_system();
        auto result = co_await off_loop([&] { return configure_host(h, profile, state_, live.get()); });
        const std::vector<proto::step_outcome> steps = result.steps;
        const std::optional<std::string> no_address;
        // Plain ifs, and named locals rather than ?: temporaries in a co_await's arguments: this code written as a
        // switch with both crashed with a double free under GCC 12, whose coroutine lowering has known bugs with each.
        if (result.outcome == configure_outcome::failed) {
            state_.last_error = result.message;
            enter(proto::phase::failed, result.message);
            co_await report(proto::phase::failed, result.message, no_address, steps);
            proto::log_error("host preparation failed: " + result.message, {{"GRAFT_NODE", state_.node_name}});
            const std::vector<std::string> own{"graft-agent"};
            const std::string cause = "host preparation failed";
            co_await send_journal(own, cause);
            co_return 1;
        }
        if (result.outcome == configure_outcome::reboot) {
            enter(proto::phase::rebooting, result.message);  // persisted before the reboot is asked for
            co_await report(proto::phase::rebooting, result.message, no_address, steps);
            if (!live) {
                proto::log_info("rebooting is needed (" + result.message + "); the root is not the running system, so "
                                "reboot it yourself and start graft-agent again", {{"GRAFT_NODE", state_.node_name}});
                co_return 0;
            }
            proto::log_info("rebooting once: " + result.message, {{"GRAFT_NODE", state_.node_name}, {"GRAFT_PHASE", "rebooting"}});
            live->reboot();
            for (;;) {  // systemd stops us on the way down
                net::steady_timer wait(co_await net::this_coro::executor, std::chrono::hours(1));
                co_await wait.async_wait(net::use_awaitable);
            }
        }
        enter(proto::phase::configured);
        // The address kubelet will register with, as the node-ip step chose it.
        const std::optional<std::string> node_ip = kubelet_flag(h.read(kubelet_flags_file(h)).value_or(""), "node-ip");
        node_ip_ = node_ip.value_or("");
        const std::string message = node_ip ? "node IP " + *node_ip : std::string();
        co_await report(proto::phase::configured, message, node_ip, steps);
        co_return std::nullopt;
    }

    // Joins the cluster with a fresh spec per attempt; 0 once joined, else the exit code to stop with.
    net::awaitable<int> join() {
        backoff join_retry(options_.backoff_initial, options_.backoff_cap);
        const host h(options_.root);
        std::unique_ptr<live_system> live;
        if (h.is_running_system()) live = connect_live_system();
        node_joiner joiner(h, store_, live.get(), options_.programs);
        for (unsigned attempt = 1;; ++attempt) {
            enter(proto::phase::joining);
            co_await report(proto::phase::joining, "");
            // A fresh spec on every attempt: the last one may have expired while the node was slow to boot.
            // The versions are read again too: the operator may have installed the ones a refusal asked for.
            const proto::join_request versions = local_versions(state_.flavour, options_.programs);
            // A coordinator that cannot issue a credential now (503: the cluster's API is failing; 429: busy) is a
            // failed attempt, reported with its reason, rather than a silent retry.
            auto res = co_await request(node_tls_->context(), verb::post, "/v1/nodes/" + state_.node_name + "/join",
                                        versions.to_json().dump(), "asking for a join spec", false);
            std::string failure;
            if (res.status >= 500 || res.status == 429) {
                failure = "the coordinator cannot issue a join credential: " + error_message(res);
                proto::log_error(failure, {{"GRAFT_NODE", state_.node_name}, {"GRAFT_PHASE", "failed"}},
                                 proto::message_id::join_failed);
            } else if (res.status == 409) {
                // The cluster's version skew policy refuses this node as it is; waiting helps once it is upgraded.
                failure = error_message(res);
                proto::log_error("the coordinator refused to let this node join: " + failure,
                                 {{"GRAFT_NODE", state_.node_name}, {"GRAFT_PHASE", "failed"}},
                                 proto::message_id::version_skew);
            } else {
                if (res.status != 200) throw refused("the coordinator refused a join spec: " + error_message(res));
                proto::join_spec spec;
                try {
                    spec = proto::join_spec::from_json(proto::parse_json(res.body));
                } catch (const proto::validation_error& e) {
                    throw refused(std::string("the coordinator's join spec is malformed: ") + e.what());
                }
                if (spec.node_name != state_.node_name)
                    throw refused("the join spec is for " + spec.node_name + ", not for this node " + state_.node_name);
                const join_outcome outcome = co_await off_loop([&] { return joiner.join(spec, node_ip_); });
                if (outcome.joined) {
                    enter(proto::phase::joined);
                    co_await report(proto::phase::joined, "");
                    proto::log_info("node " + state_.node_name + " joined the cluster",
                                    {{"GRAFT_NODE", state_.node_name}, {"GRAFT_PHASE", "joined"}});
                    proto::notify("STATUS=Joined as " + state_.node_name + "; waiting for the Node to be Ready");
                    co_return 0;
                }
                failure = outcome.error;
                proto::log_error("join failed: " + failure, {{"GRAFT_NODE", state_.node_name}, {"GRAFT_PHASE", "failed"}},
                                 proto::message_id::join_failed);
            }
            state_.last_error = failure;
            enter(proto::phase::failed, failure);
            proto::notify("STATUS=Join failed: " + failure.substr(0, 200));
            co_await report(proto::phase::failed, failure);
            // What the operator would otherwise fetch with SSH: kubelet's (or k3s's, k0s's) account of the failure.
            const std::vector<std::string> units = relevant_units(state_.flavour);
            const std::string cause = "join attempt " + std::to_string(attempt) + " failed";
            co_await send_journal(units, cause);
            if (options_.max_join_attempts && attempt >= options_.max_join_attempts) {
                std::cerr << "graft-agent: giving up after " << attempt << " failed join attempt(s)\n";
                co_return 1;
            }
            net::steady_timer timer(co_await net::this_coro::executor, join_retry.next());
            co_await timer.async_wait(net::use_awaitable);
        }
    }

    // Reports kubelet's health until the coordinator, which watches the cluster's Nodes, says this one is Ready.
    net::awaitable<int> await_ready() {
        std::string last_health;
        for (;;) {
            std::string health = "kubelet health not checked";
            if (!options_.kubelet_healthz.empty()) {
                auto problem = co_await kubelet_health(options_.kubelet_healthz);
                health = problem.empty() ? "kubelet healthy" : "kubelet not healthy yet: " + problem;
            }
            if (health != last_health)
                proto::log_info(health, {{"GRAFT_NODE", state_.node_name}, {"GRAFT_PHASE", "joined"}});
            last_health = health;
            const proto::node_status status = co_await report(proto::phase::joined, health);
            if (!status.readiness_tracked) {
                proto::log_info("node " + state_.node_name + " has joined; its coordinator does not watch the cluster's "
                                "Nodes (it has no kubeconfig), so the agent's work ends here", {{"GRAFT_NODE", state_.node_name}});
                proto::notify("STATUS=Joined as " + state_.node_name + "; readiness is not tracked (the coordinator has "
                              "no kubeconfig)");
                const std::string how = "joined; the coordinator does not track readiness";
                co_return co_await watch_over(how);
            }
            co_await renew_if_due(false);  // a node that takes weeks to be Ready keeps a valid certificate
            if (status.phase == "ready") {
                enter(proto::phase::ready);
                proto::log_info("node " + state_.node_name + " is Ready", {{"GRAFT_NODE", state_.node_name}, {"GRAFT_PHASE", "ready"}},
                                proto::message_id::node_ready);
                proto::notify("STATUS=Ready as " + state_.node_name);
                const std::string how = "Ready";
                co_return co_await watch_over(how);
            }
            const std::string waiting = status.phase == "deleted"
                ? "the Node was deleted from the cluster: " + status.reason
                : (status.reason.empty() ? health : status.reason);
            proto::notify("STATUS=Joined as " + state_.node_name + ", not Ready: " + waiting.substr(0, 200));
            net::steady_timer timer(co_await net::this_coro::executor, options_.readiness_interval);
            co_await timer.async_wait(net::use_awaitable);
        }
    }

    const run_options& options_;
    boot_config config_;
    std::vector<proto::https_endpoint> endpoints_;  // every coordinator, in the order graft.json gives them
    std::size_t current_ = 0;
    proto::https_endpoint endpoint_;  // endpoints_[current_], the one asked now
    std::size_t failures_in_row_ = 0;
    state_store store_;
    agent_state state_;
    backoff retry_;
    std::unique_ptr<proto::client_tls> node_tls_;
    std::unique_ptr<proto::https_connection> node_connection_;  // over node_tls_
    std::string node_ip_;  // as host preparation chose it
    // The machine-id this card had before it found it was a clone and made itself a fresh one.
    std::optional<std::string> cloned_from_;
    std::string identity_pem_;  // the certificate node_tls_ presents
    std::atomic<bool> busy_{false};
    // Last: destroyed first, it waits for work it holds, which uses the members above.
    net::thread_pool worker_{1};
};

}  // namespace

namespace {
// The process's exit code once the agent's coroutine ended: a refusal is logged and is 1; another exception goes on
// to run_main, which prints it.
int exit_code_of(std::exception_ptr failure, std::optional<int> exit_code) {
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const refused& e) {
            proto::log_error(e.what());
            return 1;
        }
    }
    return exit_code.value_or(1);
}
}  // namespace

int run_agent(const run_options& options) {
    auto config = take_boot_config(options.root, options.config_path, state_store(options.root));
    // Before the agent: the connection the agent keeps must close while its io_context still exists.
    net::io_context io;
    agent_run agent(options, std::move(config));

    std::optional<int> exit_code;
    std::exception_ptr failure;
    net::co_spawn(io, agent.run(), [&](std::exception_ptr e, int code) {
        failure = e;
        exit_code = code;
    });
    net::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        proto::notify("STOPPING=1");
        proto::log_info("stopping on signal " + std::to_string(signal) + "; the next start resumes from the saved state");
        exit_code = 128 + signal;
        io.stop();
    });
    proto::notify("READY=1");
    proto::start_watchdog(io);
    while (!exit_code && io.run_one() > 0) {}
    // A signal during host preparation or a join: the state is saved at every phase, so stop now rather than wait
    // for kubeadm; systemd stops what it started with the rest of the unit's processes.
    if (!failure && agent.busy()) {
        std::cout.flush();
        std::_Exit(*exit_code);
    }
    return exit_code_of(failure, exit_code);
}

bool renewal_due(std::chrono::system_clock::time_point not_before, std::chrono::system_clock::time_point not_after,
                 std::chrono::system_clock::time_point now, double jitter) {
    const auto life = not_after - not_before;
    const auto when = not_before + life * 2 / 3 - std::chrono::duration_cast<std::chrono::system_clock::duration>(life * (jitter / 10));
    return now >= when;
}

int renew_certificate(const run_options& options, bool force) {
    state_store store(options.root);
    if (!store.has("state.json"))
        throw std::runtime_error("this node has not enrolled yet (no " + store.path("state.json") + "): there is nothing to renew");
    boot_config config;
    config.coordinator = store.load().coordinator;
    net::io_context io;  // outlives the agent, as in run_agent
    agent_run agent(options, std::move(config));
    std::optional<int> exit_code;
    std::exception_ptr failure;
    net::co_spawn(io, agent.renew_only(force), [&](std::exception_ptr e, int code) {
        failure = e;
        exit_code = code;
    });
    io.run();
    return exit_code_of(failure, exit_code);
}

int print_status(const std::string& root, bool as_json) {
    state_store store(root);
    if (!store.has("state.json")) {
        std::cout << "this node has not enrolled yet (no " << store.path("state.json") << ")\n";
        return 3;
    }
    auto state = store.load();
    if (as_json) {
        std::cout << store.read("state.json");
        return 0;
    }
    std::cout << "node:        " << (state.node_name.empty() ? "-" : state.node_name) << "\n"
              << "phase:       " << proto::to_string(state.phase) << "\n"
              << "coordinator: " << (state.coordinator.empty() ? "-" : state.coordinator) << "\n";
    if (store.has("node.crt")) {
        auto cert = proto::certificate_from_pem(store.read("node.crt"));
        std::cout << "certificate: valid until " << proto::to_rfc3339(proto::not_after(*cert)) << "\n";
    }
    if (!state.last_error.empty()) std::cout << "last error:  " << state.last_error << "\n";
    std::cout << "history:\n";
    for (const auto& e : state.history)
        std::cout << "  " << e.at << "  " << e.phase << (e.message.empty() ? "" : "  " + e.message) << "\n";
    return 0;
}

}  // namespace graft::agent
