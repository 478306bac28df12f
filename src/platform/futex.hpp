// The one futex wrapper: a plain thread sleeps on a 32-bit word until another
// thread changes it and wakes it. Linux uses the futex syscall; elsewhere a
// small table of mutex + condition_variable buckets hashed by address does
// the same job (C++20's atomic::wait has no timeout).
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::detail {

// Sleeps while *word == expected, until futex_wake, the deadline (steady ns,
// INT64_MAX: none) or a spurious wake-up; callers re-check their condition.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::int64_t deadline_ns = INT64_MAX) noexcept;
// Wakes up to `count` threads sleeping on word (INT_MAX: all). A wake on a word
// nobody waits on, or whose memory is about to go away, is harmless.
void futex_wake(std::atomic<std::uint32_t>& word, int count = 1) noexcept;

}  // namespace weft::detail
