// deadline_scope: a deadline for every blocking call made inside a scope.
#pragma once

#include <chrono>
#include <climits>
#include <cstdint>
#include <type_traits>

namespace weft {
namespace detail {
// steady_clock's now + d in ns, saturating: a duration too long for the clock
// (seconds::max(), years(300)) is forever, as std::this_thread::sleep_for
// treats it; a negative one is in the past.
template <class Rep, class Period>
std::int64_t steady_ns_after(const std::chrono::duration<Rep, Period>& d) noexcept {
    using namespace std::chrono;
    const std::int64_t now = duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
    // long double holds every int64 exactly and the largest durations without overflow.
    const long double want = duration_cast<duration<long double, std::nano>>(d).count();
    if (want >= static_cast<long double>(INT64_MAX - now)) return INT64_MAX;
    if (want <= -static_cast<long double>(now)) return 0;
    return now + static_cast<std::int64_t>(want);
}
}  // namespace detail

// A point in time after which a blocking call gives up with std::errc::timed_out.
// Converts from a steady_clock time point, or from a duration counted from now:
//   conn.read(buf, n, 200ms);   conn.read(buf, n, start + 1s);
class deadline {
public:
    constexpr deadline() noexcept = default;  // none
    // Any clock: a time point of another clock is converted through the time left until it.
    template <class Clock, class Duration>
    deadline(const std::chrono::time_point<Clock, Duration>& until) noexcept {
        using steady = std::chrono::steady_clock;
        if constexpr (std::is_same_v<Clock, steady>) {
            ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::time_point_cast<steady::duration>(until).time_since_epoch())
                      .count();
        } else {
            ns_ = detail::steady_ns_after(until - Clock::now());
        }
    }
    template <class Rep, class Period>
    deadline(const std::chrono::duration<Rep, Period>& from_now) noexcept
        : ns_(detail::steady_ns_after(from_now)) {}
    static constexpr deadline none() noexcept { return deadline(); }
    constexpr bool is_none() const noexcept { return ns_ == INT64_MAX; }
    constexpr std::int64_t steady_ns() const noexcept { return ns_; }
    // As a steady_clock time point (none: the clock's maximum).
    std::chrono::steady_clock::time_point steady_time() const noexcept {
        return std::chrono::steady_clock::time_point(
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(ns_)));
    }

private:
    std::int64_t ns_ = INT64_MAX;
};

// While alive, every blocking call of this fiber (sleep, socket I/O) fails
// with std::errc::timed_out once the deadline passes. Nested scopes take the
// earliest deadline. Fatal outside a fiber.
//   weft::deadline_scope s{200ms};
//
// Inheritance: a fiber spawned by a fiber starts with the spawner's
// effective deadline (its earliest enclosing scope at the spawn) as if a
// deadline_scope enclosed the child's whole function; the child's own
// scopes can only make it earlier. Reason: a child usually does part of the
// spawner's work (a fan-out under one request's deadline, a task_group), and
// work done for a call that gave up is wasted. Opt out per spawn with
// spawn_options{.inherit_deadline = false} for fibers that outlive the
// request that started them; weft::thread never inherits (std::thread has
// no such notion). Fibers started from a plain thread or a worker's own
// stack have no deadline. A deadline is a time point: the child's ends at
// the same moment, however long after the spawn it starts.
class deadline_scope {
public:
    explicit deadline_scope(std::chrono::steady_clock::time_point until);
    template <class Rep, class Period>
    explicit deadline_scope(const std::chrono::duration<Rep, Period>& d)
        : deadline_scope(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(detail::steady_ns_after(d)))) {}
    ~deadline_scope();
    deadline_scope(const deadline_scope&) = delete;
    deadline_scope& operator=(const deadline_scope&) = delete;

private:
    std::int64_t saved_;
};

}  // namespace weft
