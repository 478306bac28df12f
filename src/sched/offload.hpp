// The offload pool's hooks for weft's own tests (sched/offload.cpp).
#pragma once

namespace weft::detail {

// The next start of the offload pool fails, as a thread limit would make it
// fail, when it creates thread number `index` (0-based); -1: no failure.
void offload_fail_thread_start_for_test(int index) noexcept;

}  // namespace weft::detail
