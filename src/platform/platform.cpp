// Clocks and the futex wrapper (see futex.hpp, clock.hpp).
#include <cstdio>
#include <ctime>
#include <climits>
#include <condition_variable>
#include <mutex>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "platform/clock.hpp"
#include "platform/futex.hpp"
#include "platform/process.hpp"

namespace weft::detail {

namespace {
std::int64_t read_clock(clockid_t id) noexcept {
    timespec ts;
    ::clock_gettime(id, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

std::int64_t steady_now_ns() noexcept { return read_clock(CLOCK_MONOTONIC); }

std::int64_t coarse_now_ns() noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
    return read_clock(CLOCK_MONOTONIC_COARSE);
#else
    return read_clock(CLOCK_MONOTONIC);
#endif
}

unsigned process_thread_count() noexcept {
#if defined(__linux__)
    std::FILE* f = std::fopen("/proc/self/status", "re");
    if (!f) return 0;
    char line[256];
    unsigned n = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "Threads: %u", &n) == 1) break;
    std::fclose(f);
    return n;
#else
    return 0;
#endif
}

#if defined(__linux__) && !defined(WEFT_PORTABLE_FUTEX)

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, std::int64_t deadline_ns) noexcept {
    timespec ts{};
    const timespec* tsp = nullptr;
    if (deadline_ns != no_deadline) {
        const std::int64_t left = deadline_ns - steady_now_ns();
        if (left <= 0) return;
        ts.tv_sec = static_cast<time_t>(left / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(left % 1'000'000'000);
        tsp = &ts;
    }
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, tsp, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

#else

namespace {
// A waker changes the word before it takes the bucket's lock; a sleeper
// checks the word under that lock: so no wake-up falls between the check and
// the sleep. Buckets are shared by unrelated words: spurious wakes are allowed.
struct bucket {
    std::mutex mu;
    std::condition_variable cv;
};
// Never destroyed: threads that outlive main (detached offload threads asleep
// in os_condvar, say) may still wait on them while exit runs destructors, and
// destroying a condition variable that has waiters blocks.
bucket& bucket_of(const void* p) noexcept {
    static bucket* const buckets = new bucket[64];
    return buckets[(reinterpret_cast<std::uintptr_t>(p) >> 4) % 64];
}
}  // namespace

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, std::int64_t deadline_ns) noexcept {
    bucket& b = bucket_of(&word);
    std::unique_lock<std::mutex> lock(b.mu);
    if (word.load(std::memory_order_acquire) != expected) return;
    if (deadline_ns == no_deadline) {
        b.cv.wait(lock);
        return;
    }
    const std::int64_t left = deadline_ns - steady_now_ns();
    if (left > 0) b.cv.wait_for(lock, std::chrono::nanoseconds(left));
}

void futex_wake(std::atomic<std::uint32_t>& word, int) noexcept {
    bucket& b = bucket_of(&word);
    { std::lock_guard<std::mutex> lock(b.mu); }
    b.cv.notify_all();
}

#endif

}  // namespace weft::detail
