// weft::wait_group: Go's sync.WaitGroup. add() the number of tasks, each
// calls done(), and wait() parks the fiber (or blocks a plain thread) until
// the counter is back at zero. Works between fibers on any worker and threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <system_error>
#include <type_traits>

#include "weft/deadline.hpp"
#include "weft/detail/wait_queue.hpp"

namespace weft {

// Reusable: once the counter is zero, add() starts a new round. A counter
// that goes negative is a fatal misuse. Any number of waiters.
// Errors: wait(ec) sets ec to timed_out (an enclosing deadline_scope ended) or
// operation_canceled (fiber_handle::cancel); wait() throws them as
// std::system_error; the timed forms return false for both.
class wait_group {
public:
    constexpr wait_group() noexcept = default;
    wait_group(const wait_group&) = delete;
    wait_group& operator=(const wait_group&) = delete;

    void add(std::int64_t n = 1) noexcept;  // n may be negative, as in Go
    void done() noexcept { add(-1); }
    std::int64_t count() const noexcept;    // a snapshot

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

    std::int64_t count_ = 0;  // guarded by guard_
    mutable detail::spinlock guard_;
    detail::wait_list waiters_;
};

}  // namespace weft
