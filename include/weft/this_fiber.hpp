// The running fiber: yield, sleep, identity.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "weft/deadline.hpp"
#include "weft/fiber.hpp"

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

}  // namespace this_fiber
}  // namespace weft
