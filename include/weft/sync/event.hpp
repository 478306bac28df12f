// weft::event: a flag that fibers and plain threads wait on until someone
// sets it; waiting parks the fiber (or blocks a plain thread), never the worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <system_error>
#include <type_traits>

#include "weft/deadline.hpp"
#include "weft/detail/wait_queue.hpp"

namespace weft {

// manual_reset: set() releases every waiter, present and future, until reset().
// auto_reset: set() releases exactly one waiter (the longest waiting), or, if
// none waits, leaves the event set for the next wait, which clears it.
// Errors: wait(ec) sets ec to timed_out (an enclosing deadline_scope ended) or
// operation_canceled (fiber_handle::cancel); wait() throws them as
// std::system_error; the timed forms return false for both.
class event {
public:
    enum mode : unsigned char { manual_reset, auto_reset };

    explicit event(mode m = manual_reset, bool initially_set = false) noexcept : mode_(m), set_(initially_set) {}
    event(const event&) = delete;
    event& operator=(const event&) = delete;

    void set() noexcept;
    void reset() noexcept;
    bool is_set() const noexcept;  // a snapshot

    void wait();
    void wait(std::error_code& ec) { ec = wait_until_ns(INT64_MAX); }
    bool wait_until(deadline d) { return !wait_until_ns(d.steady_ns()); }
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period>& d) {
        return wait_until(deadline(d));
    }
    template <class Clock, class Duration>
    bool wait_until(const std::chrono::time_point<Clock, Duration>& tp) {
        return wait_until(deadline(tp));
    }

private:
    std::error_code wait_until_ns(std::int64_t deadline_ns);

    const mode mode_;
    bool set_;  // guarded by guard_
    mutable detail::spinlock guard_;
    detail::wait_list waiters_;
};

}  // namespace weft
