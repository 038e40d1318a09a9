// Internal: how a training loop learns that it must stop (SIGINT/SIGTERM, request_stop(), request_stop_at_step()).
#pragma once

#include <cstdint>

namespace signopt::train::detail {

/// True once SIGINT/SIGTERM or request_stop() asked the running loop to stop.
bool stop_requested();

/// The step at which request_stop_at_step() asked the loop to stop, or -1.
int64_t stop_step();

/// Forgets both requests: the loop has stopped for them.
void clear_stop_requests();

} // namespace signopt::train::detail
