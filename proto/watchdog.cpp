#include "proto/watchdog.hpp"

#include "proto/systemd.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace graft::proto {
namespace {

namespace net = boost::asio;

// The interval is a parameter, not a capture: the coroutine frame owns it.
net::awaitable<void> ping_every(std::chrono::microseconds every) {
    net::steady_timer timer(co_await net::this_coro::executor);
    for (;;) {
        notify("WATCHDOG=1");
        timer.expires_after(every);
        co_await timer.async_wait(net::use_awaitable);
    }
}

}  // namespace

void start_watchdog(net::io_context& io) {
    const auto interval = watchdog_interval();
    if (!interval) return;
    net::co_spawn(io, ping_every(*interval / 2), net::detached);
}

}  // namespace graft::proto
