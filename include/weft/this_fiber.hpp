// The running fiber: yield, sleep, identity.
#pragma once

#include <chrono>
#include <cstdint>
#include <stop_token>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "weft/deadline.hpp"
#include "weft/fiber.hpp"
#include "weft/stop.hpp"

namespace weft {

// True when called on a fiber (not on a thread's own stack).
bool in_fiber() noexcept;

namespace detail {
std::error_code sleep_until_steady_ns(std::int64_t steady_ns);
[[noreturn]] void throw_error(std::error_code ec, const char* what);

template <class Clock, class Duration>
std::int64_t to_steady_ns(const std::chrono::time_point<Clock, Duration>& tp) {
    return deadline(tp).steady_ns();
}
}  // namespace detail

namespace this_fiber {

// Lets every other ready fiber of this worker run once, then continues.
// Fatal outside a fiber.
void yield();

fiber_id id() noexcept;             // 0 outside a fiber
std::string_view name() noexcept;   // empty outside a fiber or when unnamed

// Parks the fiber until the time point; other fibers run meanwhile. A time
// already passed yields once. An enclosing weft::deadline_scope that ends
// first cuts the sleep short with timed_out; fiber_handle::cancel() ends it
// with operation_canceled. The error_code forms report those; the others
// throw std::system_error. Fatal outside a fiber.
template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration>& tp, std::error_code& ec) {
    ec = detail::sleep_until_steady_ns(detail::to_steady_ns(tp));
}

template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration>& tp) {
    if (std::error_code ec = detail::sleep_until_steady_ns(detail::to_steady_ns(tp)))
        detail::throw_error(ec, "weft::this_fiber::sleep_until");
}

// A duration too long for the clock (seconds::max()) sleeps until canceled.
template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d, std::error_code& ec) {
    ec = detail::sleep_until_steady_ns(detail::steady_ns_after(d));
}

template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d) {
    if (std::error_code ec = detail::sleep_until_steady_ns(detail::steady_ns_after(d)))
        detail::throw_error(ec, "weft::this_fiber::sleep_for");
}

// With a std::stop_token: the sleep also ends when stop is requested on st
// (from any thread; a weft::stop_scope around the sleep). Returns true when
// the time passed, false when stopped (at once if stop was requested
// before). Other failures are as above: the plain forms throw, the
// error_code forms report them (a stop is not one: false, cleared code).
template <class Clock, class Duration>
bool sleep_until(const std::chrono::time_point<Clock, Duration>& tp, std::stop_token st, std::error_code& ec) {
    {
        stop_scope scope{st};
        ec = detail::sleep_until_steady_ns(detail::to_steady_ns(tp));
    }
    if (ec == std::errc::operation_canceled && st.stop_requested()) {
        ec.clear();
        return false;
    }
    return !ec;
}

template <class Clock, class Duration>
bool sleep_until(const std::chrono::time_point<Clock, Duration>& tp, std::stop_token st) {
    std::error_code ec;
    const bool slept = sleep_until(tp, std::move(st), ec);
    if (ec) detail::throw_error(ec, "weft::this_fiber::sleep_until");
    return slept;
}

template <class Rep, class Period>
bool sleep_for(const std::chrono::duration<Rep, Period>& d, std::stop_token st, std::error_code& ec) {
    return sleep_until(deadline(d).steady_time(), std::move(st), ec);
}

template <class Rep, class Period>
bool sleep_for(const std::chrono::duration<Rep, Period>& d, std::stop_token st) {
    return sleep_until(deadline(d).steady_time(), std::move(st));
}

}  // namespace this_fiber
}  // namespace weft
