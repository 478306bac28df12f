// The clocks weft reads: CLOCK_MONOTONIC for deadlines and timers, and the
// coarse variant where a few ms of resolution do (how long a fiber waited,
// for dumps) at a fraction of the cost.
#pragma once

#include <cstdint>

namespace weft::detail {

inline constexpr std::int64_t no_deadline = INT64_MAX;

std::int64_t steady_now_ns() noexcept;
std::int64_t coarse_now_ns() noexcept;

// now + d without overflow: a far-away duration saturates at no_deadline,
// one already over (d <= 0) is now.
inline std::int64_t deadline_after_ns(std::int64_t d) noexcept {
    const std::int64_t now = steady_now_ns();
    if (d <= 0) return now;
    return d >= no_deadline - now ? no_deadline : now + d;
}

}  // namespace weft::detail
