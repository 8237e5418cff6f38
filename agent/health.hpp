#pragma once
// kubelet's health endpoint (by default http://127.0.0.1:10248/healthz, kubelet's healthzBindAddress and
// healthzPort), which answers "ok" while kubelet runs well.

#include <boost/asio/awaitable.hpp>

#include <string>

namespace graft::agent {

// "" when `url` answers 200; otherwise what went wrong, for the node's report.
boost::asio::awaitable<std::string> kubelet_health(std::string url);

}  // namespace graft::agent
