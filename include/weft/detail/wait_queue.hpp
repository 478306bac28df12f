// The pieces every weft primitive embeds: a spinlock and a FIFO of waiters.
// The waiters themselves (parked fibers or sleeping threads) are private to
// libweft; a primitive holds only pointers to them.
#pragma once

#include <atomic>

#include "weft/detail/platform.hpp"

namespace weft::detail {

struct waiter;

// Intrusive FIFO of waiters; the owner of the list guards it with its lock.
class wait_list {
public:
    bool empty() const noexcept { return head_ == nullptr; }
    waiter* front() const noexcept { return head_; }
    void push_back(waiter* w) noexcept;
    void remove(waiter* w) noexcept;  // no-op when not linked
    waiter* pop_front() noexcept;

private:
    waiter* head_ = nullptr;
    waiter* tail_ = nullptr;
};

// A test-and-test-and-set lock for the primitives' queues: held for a few
// instructions, never across a park.
class spinlock {
public:
    void lock() noexcept {
        // Held only between switches, so a lone thread never finds it taken.
        if (process_single_threaded() && !locked_.load(std::memory_order_relaxed)) {
            locked_.store(true, std::memory_order_relaxed);
            std::atomic_signal_fence(std::memory_order_acquire);
            return;
        }
        for (;;) {
            if (!locked_.exchange(true, std::memory_order_acquire)) return;
            while (locked_.load(std::memory_order_relaxed)) cpu_relax();
        }
    }
    bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> locked_{false};
};

}  // namespace weft::detail
