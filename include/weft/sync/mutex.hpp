// weft::mutex and weft::timed_mutex: a contended lock parks the fiber (or
// blocks a plain thread), never the worker. Works between fibers on any
// worker and plain threads; use with std::lock_guard / std::unique_lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "weft/deadline.hpp"
#include "weft/detail/wait_queue.hpp"

namespace weft {

// Not recursive. FIFO among waiters: unlock hands the lock straight to the
// longest waiter. lock() ignores cancellation and deadline scopes (it has no
// way to fail); try_lock_for/until honour both.
class mutex {
public:
    constexpr mutex() noexcept = default;
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;

    void lock() {
        if (!try_lock()) lock_slow(INT64_MAX, false);
    }
    bool try_lock() noexcept {
        if (detail::process_single_threaded()) {
            // No other thread to race with: a plain read and write.
            if (state_.load(std::memory_order_relaxed) != 0) return false;
            state_.store(1, std::memory_order_relaxed);
            std::atomic_signal_fence(std::memory_order_acquire);
            return true;
        }
        std::uint32_t free = 0;
        return state_.compare_exchange_strong(free, 1, std::memory_order_acquire);
    }
    // One atomic step when nobody waits. With waiters (2) the decrement
    // leaves 1: the lock stays held, and unlock_slow hands it to the longest
    // waiter, so a newcomer cannot overtake the queue.
    void unlock() {
        if (detail::process_single_threaded() && state_.load(std::memory_order_relaxed) == 1) {
            std::atomic_signal_fence(std::memory_order_release);
            state_.store(0, std::memory_order_relaxed);
            return;
        }
        if (state_.fetch_sub(1, std::memory_order_release) != 1) unlock_slow();
    }

protected:
    bool lock_slow(std::int64_t deadline_ns, bool cancelable);
    void unlock_slow() noexcept;

private:
    std::atomic<std::uint32_t> state_{0};  // 0 free, 1 held, 2 held and maybe waited for
    detail::spinlock guard_;
    detail::wait_list waiters_;
};

class timed_mutex : public mutex {
public:
    // False when the deadline (or an enclosing deadline_scope) passes first,
    // or the fiber is canceled.
    bool try_lock_until(deadline d) { return try_lock() || lock_slow(d.steady_ns(), true); }
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
        return try_lock_until(deadline(d));
    }
    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
        return try_lock_until(deadline(tp));
    }
};

}  // namespace weft
