// Helpers shared by the sync, syncx and channel tests: sanitizer-aware sizes,
// a second worker on its own thread, and waits that suit fibers and threads.
#pragma once

#include <atomic>
#include <thread>
#include <utility>

#include "context/annotate.hpp"
#include "weft/weft.hpp"

namespace weft_test {

// Sanitized builds run each loop this many times fewer.
#if WEFT_ASAN || WEFT_TSAN
inline constexpr int sanitizer_scale = 10;
#else
inline constexpr int sanitizer_scale = 1;
#endif

// A second worker: fn runs as the main fiber of weft::run on a new thread.
template <class F>
std::thread worker_thread(F fn) {
    return std::thread([fn = std::move(fn)]() mutable { weft::run(std::move(fn)); });
}

// Yields the fiber, or the thread when not on a fiber.
inline void pause_a_little() {
    if (weft::in_fiber()) weft::this_fiber::yield();
    else std::this_thread::yield();
}

inline void note_max(std::atomic<int>& max, int now) {
    int m = max.load();
    while (now > m && !max.compare_exchange_weak(m, now)) {
    }
}

}  // namespace weft_test
