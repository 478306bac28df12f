// The hooks keep their per-fd state (whether they made the fd non-blocking
// underneath, what the caller asked for, its socket timeouts) in the one
// process-wide fd table, next to the poller's waits.
#pragma once

#include "reactor/fd_table.hpp"

namespace weft::detail {

using fd_state = fd_entry;

}  // namespace weft::detail
