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
        std::uint32_t free = 0;
        if (!state_.compare_exchange_strong(free, 1, std::memory_order_acquire)) lock_slow(INT64_MAX, false);
    }
    bool try_lock() noexcept {
        std::uint32_t free = 0;
        return state_.compare_exchange_strong(free, 1, std::memory_order_acquire);
    }
    void unlock() {
        std::uint32_t held = 1;
        if (!state_.compare_exchange_strong(held, 0, std::memory_order_release)) unlock_slow();
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
