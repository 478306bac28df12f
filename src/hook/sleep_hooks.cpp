// Hooked sleeps: sleep, usleep, nanosleep and clock_nanosleep park the calling
// fiber on a timer instead of stopping its whole worker.
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "hook/sys.hpp"
#include "hook/wait.hpp"

namespace weft::detail::hook {
namespace {

constexpr std::int64_t ns_per_s = 1'000'000'000;

bool valid(const timespec* ts) noexcept { return ts && ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < ns_per_s; }

std::int64_t to_ns(const timespec& ts) noexcept {
    constexpr std::int64_t max_s = INT64_MAX / ns_per_s - 1;
    return (ts.tv_sec > max_s ? max_s : static_cast<std::int64_t>(ts.tv_sec)) * ns_per_s + ts.tv_nsec;
}

void store_left(timespec* rem, std::int64_t deadline) noexcept {
    if (!rem) return;
    std::int64_t left = deadline - steady_now_ns();
    if (left < 0) left = 0;
    rem->tv_sec = static_cast<time_t>(left / ns_per_s);
    rem->tv_nsec = static_cast<long>(left % ns_per_s);
}

// Parks until the steady deadline. 0 when it passed; EINTR when the fiber was
// canceled or an enclosing deadline_scope ended first, as a signal would.
int sleep_fiber(worker& w, std::int64_t deadline) noexcept {
    const int err = park_until(w, deadline);
    return err == 0 ? 0 : EINTR;
}

}  // namespace
}  // namespace weft::detail::hook

using namespace weft::detail;
using namespace weft::detail::hook;

extern "C" {

int nanosleep(const timespec* req, timespec* rem) {
    worker* w = fiber_worker();
    if (!w) return static_cast<int>(sys::nanosleep(req, rem));
    if (!valid(req)) {
        errno = EINVAL;
        return -1;
    }
    const std::int64_t deadline = steady_now_ns() + to_ns(*req);
    if (const int err = sleep_fiber(*w, deadline)) {
        store_left(rem, deadline);
        errno = err;
        return -1;
    }
    return 0;
}

int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
    worker* w = fiber_worker();
    if (!w || (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME && clock != CLOCK_BOOTTIME)) {
        // Returns the error number itself, not -1 and errno.
        return sys::clock_nanosleep(clock, flags, req, rem) == 0 ? 0 : errno;
    }
    if (!valid(req)) return EINVAL;
    std::int64_t wait_ns = to_ns(*req);
    if (flags & TIMER_ABSTIME) {
        timespec now;
        ::clock_gettime(clock, &now);
        wait_ns -= to_ns(now);
    }
    const std::int64_t deadline = steady_now_ns() + (wait_ns > 0 ? wait_ns : 0);
    if (const int err = sleep_fiber(*w, deadline)) {
        if (!(flags & TIMER_ABSTIME)) store_left(rem, deadline);
        return err;
    }
    return 0;
}

unsigned int sleep(unsigned int seconds) {
    worker* w = fiber_worker();
    if (!w) {
        timespec req{static_cast<time_t>(seconds), 0}, rem{0, 0};
        if (sys::nanosleep(&req, &rem) != 0) return static_cast<unsigned int>(rem.tv_sec + (rem.tv_nsec > 0));
        return 0;
    }
    const std::int64_t deadline = steady_now_ns() + std::int64_t{seconds} * ns_per_s;
    if (sleep_fiber(*w, deadline) == 0) return 0;
    const std::int64_t left = deadline - steady_now_ns();
    return left > 0 ? static_cast<unsigned int>((left + ns_per_s - 1) / ns_per_s) : 0;
}

int usleep(useconds_t usec) {
    worker* w = fiber_worker();
    if (!w) {
        timespec req{static_cast<time_t>(usec / 1'000'000), static_cast<long>(usec % 1'000'000) * 1000};
        return static_cast<int>(sys::nanosleep(&req, nullptr));
    }
    if (const int err = sleep_fiber(*w, steady_now_ns() + std::int64_t{usec} * 1000)) {
        errno = err;
        return -1;
    }
    return 0;
}

}  // extern "C"
