// weft::semaphore: a counting semaphore whose acquire parks the fiber (or
// blocks a plain thread), never the worker. Works between fibers on any
// worker and plain threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <type_traits>

#include "weft/deadline.hpp"
#include "weft/detail/wait_queue.hpp"

namespace weft {

// FIFO among waiters: release hands units straight to the longest waiters, so
// a newcomer never overtakes a parked acquirer.
// Errors: acquire(ec) sets ec to timed_out (an enclosing deadline_scope ended)
// or operation_canceled (fiber_handle::cancel); acquire() throws them as
// std::system_error; the timed forms return false for both.
class semaphore {
public:
    explicit semaphore(std::ptrdiff_t initial = 0);  // fatal when negative
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;

    void acquire();
    void acquire(std::error_code& ec) { ec = acquire_until_ns(INT64_MAX); }
    bool try_acquire() noexcept;
    bool try_acquire_until(deadline d) { return !acquire_until_ns(d.steady_ns()); }
    template <class Rep, class Period>
    bool try_acquire_for(const std::chrono::duration<Rep, Period>& d) {
        return try_acquire_until(deadline(d));
    }
    template <class Clock, class Duration>
    bool try_acquire_until(const std::chrono::time_point<Clock, Duration>& tp) {
        return try_acquire_until(deadline(tp));
    }

    // Hands n units to waiters in arrival order and keeps the rest. Fatal
    // when n is negative or the count would overflow.
    void release(std::ptrdiff_t n = 1);

    // A snapshot, for tests and diagnostics.
    std::ptrdiff_t available() const noexcept;

private:
    std::error_code acquire_until_ns(std::int64_t deadline_ns);

    mutable detail::spinlock guard_;
    std::ptrdiff_t count_;  // guarded by guard_
    detail::wait_list waiters_;
};

}  // namespace weft
