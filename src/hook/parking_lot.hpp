// Waits keyed by an address, for the hooked pthread locks and semaphores.
// The lock's memory stays glibc's: plain threads block in glibc's own calls
// on it, and fibers that find it taken list themselves here under its
// address until an unlock through the hooks wakes them. A table of buckets,
// each a spinlock, a FIFO of waiters (sched/wait.hpp) and a count that lets an
// unlock with nobody listed skip the bucket's lock.
#pragma once

#include <climits>
#include <cstdint>

#include "fiber/fiber.hpp"

namespace weft::detail::hook {

enum class lot_result { acquired, notified, timed_out };

// Lists the caller (a fiber parks; a plain thread sleeps on the futex) under
// key, then calls after_listed(ctx): true ends the wait at once (acquired:
// the lock was free on this last look). Otherwise blocks until lot_notify
// for key (notified: look again) or the steady-clock deadline (timed_out).
// Not cancelable: the pthread calls have no way to report it.
//
// The last look closes the race with an unlock: the unlocker releases the
// lock, then (seq_cst) reads the bucket's count; the waiter raises the
// count, then (seq_cst) looks at the lock. One of them sees the other.
lot_result lot_wait(const void* key, std::int64_t deadline_ns, wait_reason why, bool (*after_listed)(void*),
                    void* ctx) noexcept;

template <class F>
lot_result lot_wait(const void* key, std::int64_t deadline_ns, wait_reason why, F&& after_listed) noexcept {
    return lot_wait(key, deadline_ns, why, [](void* c) { return (*static_cast<F*>(c))(); },
                    const_cast<void*>(static_cast<const void*>(&after_listed)));
}

// Wakes up to n of the waiters listed under key, oldest first (INT_MAX: all).
// Call it after releasing the lock; it starts with the seq_cst fence the
// protocol above needs, and costs one load when key's bucket is empty.
void lot_notify(const void* key, int n = 1) noexcept;

}  // namespace weft::detail::hook
