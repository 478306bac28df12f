// What the platform says about this process.
#pragma once

namespace weft::detail {

// Threads of this process, or 0 where that cannot be known (not Linux).
unsigned process_thread_count() noexcept;

}  // namespace weft::detail
