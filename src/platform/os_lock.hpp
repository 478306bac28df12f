// weft's own thread locks: a mutex and a condition variable on the futex
// wrapper, for the state weft's threads share (remote queues, the offload
// pool, registries). Not std::mutex: with weft::hook, pthread_mutex_lock and
// pthread_cond_wait park the calling fiber when contended, and weft's own
// bookkeeping must never park in the middle of a switch, a spawn or a
// fiber's exit. These never call pthreads, so the hooks never see them.
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>

#include "platform/clock.hpp"
#include "platform/futex.hpp"

namespace weft::detail {

// 0: free, 1: locked, 2: locked and maybe a sleeper (Drepper's "futexes are
// tricky", mutex 2). Lockable, so std::lock_guard and std::unique_lock work.
class os_mutex {
public:
    os_mutex() noexcept = default;
    os_mutex(const os_mutex&) = delete;
    os_mutex& operator=(const os_mutex&) = delete;

    void lock() noexcept {
        std::uint32_t c = 0;
        if (state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
        if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
        while (c != 0) {
            futex_wait(state_, 2);
            c = state_.exchange(2, std::memory_order_acquire);
        }
    }
    bool try_lock() noexcept {
        std::uint32_t c = 0;
        return state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed);
    }
    void unlock() noexcept {
        if (state_.exchange(0, std::memory_order_release) == 2) futex_wake(state_, 1);
    }

private:
    std::atomic<std::uint32_t> state_{0};
};

// A condition variable for os_mutex: sleepers wait for the sequence word to
// change. A notify between the unlock and the sleep changes the word first,
// so the sleep returns at once; spurious wake-ups are allowed, as for
// std::condition_variable, and every wait re-checks its predicate.
class os_condvar {
public:
    os_condvar() noexcept = default;
    os_condvar(const os_condvar&) = delete;
    os_condvar& operator=(const os_condvar&) = delete;

    // lock holds an os_mutex (std::unique_lock<os_mutex>). Until pred() or the
    // steady-clock deadline; returns pred().
    template <class Lock, class Pred>
    bool wait_until(Lock& lock, std::int64_t deadline_ns, Pred pred) {
        while (!pred()) {
            if (deadline_ns != no_deadline && steady_now_ns() >= deadline_ns) return false;
            wait_once(lock, deadline_ns);
        }
        return true;
    }
    // One sleep: until a notify, the deadline or a spurious wake-up.
    template <class Lock>
    void wait_once(Lock& lock, std::int64_t deadline_ns) {
        const std::uint32_t s = seq_.load(std::memory_order_acquire);
        lock.unlock();
        futex_wait(seq_, s, deadline_ns);
        lock.lock();
    }
    template <class Lock, class Pred>
    void wait(Lock& lock, Pred pred) {
        wait_until(lock, no_deadline, pred);
    }
    void notify_one() noexcept {
        seq_.fetch_add(1, std::memory_order_acq_rel);
        futex_wake(seq_, 1);
    }
    void notify_all() noexcept {
        seq_.fetch_add(1, std::memory_order_acq_rel);
        futex_wake(seq_, INT_MAX);
    }

private:
    std::atomic<std::uint32_t> seq_{0};
};

}  // namespace weft::detail
