// deadline_scope: a deadline for every blocking call made inside a scope.
#pragma once

#include <chrono>
#include <climits>
#include <cstdint>
#include <type_traits>

namespace weft {

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
        steady::time_point t;
        if constexpr (std::is_same_v<Clock, steady>) {
            t = std::chrono::time_point_cast<steady::duration>(until);
        } else {
            t = steady::now() + std::chrono::duration_cast<steady::duration>(until - Clock::now());
        }
        ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    }
    template <class Rep, class Period>
    deadline(const std::chrono::duration<Rep, Period>& from_now) noexcept
        : deadline(std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(from_now)) {}
    static constexpr deadline none() noexcept { return deadline(); }
    constexpr bool is_none() const noexcept { return ns_ == INT64_MAX; }
    constexpr std::int64_t steady_ns() const noexcept { return ns_; }

private:
    std::int64_t ns_ = INT64_MAX;
};

// While alive, every blocking call of this fiber (sleep, socket I/O) fails
// with std::errc::timed_out once the deadline passes. Nested scopes take the
// earliest deadline. Fatal outside a fiber.
//   weft::deadline_scope s{200ms};
class deadline_scope {
public:
    explicit deadline_scope(std::chrono::steady_clock::time_point until);
    template <class Rep, class Period>
    explicit deadline_scope(const std::chrono::duration<Rep, Period>& d)
        : deadline_scope(std::chrono::steady_clock::now() +
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(d)) {}
    ~deadline_scope();
    deadline_scope(const deadline_scope&) = delete;
    deadline_scope& operator=(const deadline_scope&) = delete;

private:
    std::int64_t saved_;
};

}  // namespace weft
