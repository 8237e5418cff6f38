#pragma once
// GET /v1/nodes as the Kubernetes API lists and watches: `?phase=P` filters, `?limit=N` pages with a
// `metadata.continue` to pass back as `?continue=`, and `?watch=true` turns the answer into a stream of
// server-sent events (ADDED, MODIFIED, DELETED, each with the node's status) from the node snapshot. A listing is
// written in pieces of a few hundred nodes, so no answer is ever held whole in memory. docs/protocol.md has the
// details.

#include "coordinator/status/node_snapshot.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace graft::coordinator {

class cluster_health;

struct list_query {
    std::string phase = {};      // "" for every phase
    std::size_t limit = 0;       // nodes per page; 0: every node, in one answer
    std::string after = {};      // the `continue` of the page before
    bool watch = false;          // a stream of changes instead of one answer
    std::optional<std::uint64_t> since = {};  // watch: the changes after this resourceVersion (or Last-Event-ID)
};

// A request target's query as KEY=VALUE pairs, percent-decoded, in order; a message when one is not valid
// percent-encoding.
std::variant<std::vector<std::pair<std::string, std::string>>, std::string> query_pairs(std::string_view target);

// The query of a GET /v1/nodes; a message naming the parameter and what it takes when it is wrong.
std::variant<list_query, std::string> parse_list_query(const boost::beast::http::request<boost::beast::http::string_body>& req);

// The listing's JSON body, a piece at a time: {"nodes":[...],"metadata":{...},"cluster":{...}}.
class listing_writer {
public:
    listing_writer(list_query query, const node_snapshot& snapshot, const cluster_health* cluster);
    // The next piece, or nullopt when the body is complete.
    std::optional<std::string> next();

private:
    list_query query_;
    const node_snapshot& snapshot_;
    const cluster_health* cluster_;
    enum class stage { open, nodes, close, done } stage_ = stage::open;
    std::string after_;
    std::size_t left_;  // nodes still to write on this page
    std::uint64_t version_ = 0;
    bool first_node_ = true;
    std::string continue_;
};

// One server-sent event for a change as a watcher with `query` sees it; "" when its filter hides the change.
std::string watch_event(const snapshot_change& change, const list_query& query);
// The events that start a watch without a resourceVersion: every matching node as ADDED, as of `version`.
// `after` pages through them like listing_writer; returns "" at the end.
std::string initial_events(const node_snapshot& snapshot, const list_query& query, std::string& after,
                           std::uint64_t& version);

}  // namespace graft::coordinator
