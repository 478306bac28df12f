#include "hook/parking_lot.hpp"

#include <atomic>
#include <cstddef>
#include <mutex>

#include "sched/wait.hpp"

namespace weft::detail::hook {
namespace {

struct alignas(64) bucket {
    spinlock lock;
    wait_list waiters;                  // every key of the bucket; waiter::item is the key
    std::atomic<std::uint32_t> count{0};  // listed waiters, written under lock
};

constexpr std::size_t bucket_count = 256;

bucket& bucket_of(const void* key) noexcept {
    static bucket buckets[bucket_count];
    const auto a = reinterpret_cast<std::uintptr_t>(key);
    return buckets[((a >> 4) ^ (a >> 12)) % bucket_count];
}

void unlist(bucket& b, waiter& w) noexcept {
    if (!w.linked) return;
    b.waiters.remove(&w);
    b.count.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

lot_result lot_wait(const void* key, std::int64_t deadline_ns, wait_reason why, bool (*after_listed)(void*),
                    void* ctx) noexcept {
    waiter w;
    std::int64_t deadline = deadline_ns;
    try {
        if (prepare_wait(w, deadline, false, false) != wait_outcome::waiting) return lot_result::timed_out;
    } catch (...) {
        // The worker's reactor could not be made, so no other thread could
        // wake this fiber: report a spurious wake; the caller looks again.
        return lot_result::notified;
    }
    w.item = const_cast<void*>(key);
    bucket& b = bucket_of(key);
    {
        std::lock_guard<spinlock> g(b.lock);
        arm(w, why);
        b.waiters.push_back(&w);
        b.count.fetch_add(1, std::memory_order_seq_cst);
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (after_listed(ctx)) {
        {
            std::lock_guard<spinlock> g(b.lock);
            unlist(b, w);
        }
        // A notification taken here was for a lock the caller now holds:
        // its own unlock will wake the next waiter.
        disarm(w);
        return lot_result::acquired;
    }
    const wait_outcome r = block(w, deadline, false);
    if (r == wait_outcome::notified) return lot_result::notified;
    std::lock_guard<spinlock> g(b.lock);
    unlist(b, w);
    return lot_result::timed_out;
}

void lot_notify(const void* key, int n) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bucket& b = bucket_of(key);
    if (b.count.load(std::memory_order_relaxed) == 0) return;
    // Claimed under the lock, woken after it: a woken fiber on another
    // worker may run at once and take the bucket's lock itself.
    constexpr int batch = 16;
    while (n > 0) {
        wake_target woken[batch];
        int k = 0;
        bool more = false;
        {
            std::lock_guard<spinlock> g(b.lock);
            for (waiter* w = b.waiters.front(); w && k < batch && k < n;) {
                waiter* next = w->next;
                if (w->item == key) {
                    b.waiters.remove(w);
                    b.count.fetch_sub(1, std::memory_order_relaxed);
                    if (claim(*w, woken[k])) ++k;
                }
                w = next;
            }
            more = k == batch && b.count.load(std::memory_order_relaxed) != 0;
        }
        for (int i = 0; i < k; ++i) deliver(woken[i]);
        n -= k;
        if (!more) return;
    }
}

}  // namespace weft::detail::hook
