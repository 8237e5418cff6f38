#pragma once
// systemd's service watchdog (WatchdogSec=): when the service manager asked for pings, WATCHDOG=1 goes out from the
// given io_context at half the interval, so a daemon whose event loop stops turning is restarted.

#include <boost/asio/io_context.hpp>

namespace graft::proto {

// Starts the pings when $WATCHDOG_USEC says so; does nothing otherwise. The pings stop with the io_context.
void start_watchdog(boost::asio::io_context& io);

}  // namespace graft::proto
