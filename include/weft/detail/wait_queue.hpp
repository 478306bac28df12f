// The pieces every weft primitive embeds: a spinlock and a FIFO of waiters.
// The waiters themselves (parked fibers or sleeping threads) are private to
// libweft; a primitive holds only pointers to them.
#pragma once

#include <atomic>

#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>  // glibc >= 2.32: one char, nothing else
#define WEFT_DETAIL_SINGLE_THREADED_FLAG 1
#endif
#endif

namespace weft::detail {

// True while the process has only the calling thread: then no other thread
// can look at a primitive's words, and an uncontended lock needs no locked
// instruction (glibc's own mutex takes the same shortcut). Only the one
// thread can make the process multi-threaded, by creating a thread, which
// publishes everything it wrote before; so a word written plainly in
// single-threaded times is seen correctly by the threads that follow.
inline bool process_single_threaded() noexcept {
#if defined(WEFT_DETAIL_SINGLE_THREADED_FLAG)
    return ::__libc_single_threaded != 0;
#else
    return false;
#endif
}

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
            while (locked_.load(std::memory_order_relaxed)) pause();
        }
    }
    bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }
    std::atomic<bool> locked_{false};
};

}  // namespace weft::detail
