// weft::shared_mutex: many readers or one writer; a contended lock parks the
// fiber (or blocks a plain thread), never the worker. Works between fibers on
// any worker and plain threads; use with std::unique_lock / std::shared_lock.
#pragma once

#include <cstddef>

#include "weft/detail/wait_queue.hpp"

namespace weft {

// Not recursive, not upgradable. Writers are not starved: once a writer
// waits, new readers queue behind it; when a writer unlocks, the readers
// queued meanwhile go in together, then the next writer (FIFO among writers).
// lock() and lock_shared() cannot fail: they ignore cancellation and deadline
// scopes, like mutex::lock().
class shared_mutex {
public:
    constexpr shared_mutex() noexcept = default;
    shared_mutex(const shared_mutex&) = delete;
    shared_mutex& operator=(const shared_mutex&) = delete;

    void lock();
    bool try_lock() noexcept;
    void unlock() noexcept;

    void lock_shared();
    bool try_lock_shared() noexcept;
    void unlock_shared() noexcept;

private:
    // All guarded by guard_. Waits never end early, so every queued waiter
    // is still waiting: a non-empty list means someone waits.
    bool writer_ = false;       // held exclusively
    std::size_t readers_ = 0;   // shared holders
    detail::spinlock guard_;
    detail::wait_list writers_;  // waiting writers, FIFO
    detail::wait_list readers_q_;  // waiting readers
};

}  // namespace weft
