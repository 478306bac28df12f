// Hooked legacy locks: pthread mutexes (so std::mutex, std::recursive_mutex,
// std::timed_mutex), condition variables (std::condition_variable), rwlocks
// (std::shared_mutex) and unnamed semaphores. A fiber that finds one taken
// parks in the parking lot under the lock's address instead of sleeping its
// worker's thread in the kernel; every unlock through the hooks wakes the
// lot's waiters of that address. Plain threads keep glibc's own blocking
// calls, so fibers and threads share one lock.
//
// Ownership is per fiber: glibc records the owning thread, and every fiber of
// a worker runs on one thread, so for error-checking and recursive mutexes
// and for rwlocks held for writing the hooks also keep, per worker thread,
// which fiber holds which lock. Another fiber of that worker then waits as a
// thread would (no recursive grant, no EDEADLK).
//
// Passed through to glibc (blocking the worker when contended): robust,
// priority-inheriting and priority-protected mutexes; process-shared mutexes,
// rwlocks and semaphores, whose unlocks in other processes never reach the lot.
// Condition variables are weft's own for every caller (the pthread_cond_t
// memory is left as pthread_cond_init made it), except process-shared ones.
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>

#include "common/assert.hpp"
#include "hook/parking_lot.hpp"
#include "hook/wait.hpp"
#include "weft/this_fiber.hpp"

// glibc's own entry points, for a static link, where dlsym(RTLD_NEXT) finds
// nothing. Weak: libc.so exports them only as old versions nobody can link
// against, and libc.a brings them in only when asked (weft::hook_static asks
// with -Wl,-u).
extern "C" {
int __pthread_mutex_lock(pthread_mutex_t*) __attribute__((weak));
int __pthread_mutex_trylock(pthread_mutex_t*) __attribute__((weak));
int __pthread_mutex_unlock(pthread_mutex_t*) __attribute__((weak));
int __pthread_rwlock_rdlock(pthread_rwlock_t*) __attribute__((weak));
int __pthread_rwlock_wrlock(pthread_rwlock_t*) __attribute__((weak));
int __pthread_rwlock_unlock(pthread_rwlock_t*) __attribute__((weak));
int __new_sem_post(sem_t*) __attribute__((weak));
int __new_sem_wait(sem_t*) __attribute__((weak));
}

namespace weft::detail::hook {
namespace {

// ---- glibc's functions behind the hooks -------------------------------------

// The next definition after the hooks (libc, or a sanitizer's interceptor in
// front of it, so ThreadSanitizer still sees every lock), else `fallback`.
template <class Fn>
Fn next_fn(std::atomic<void*>& slot, const char* name, Fn fallback, bool required) noexcept {
    void* p = slot.load(std::memory_order_acquire);
    if (!p) {
        p = ::dlsym(RTLD_NEXT, name);
        if (!p) p = reinterpret_cast<void*>(fallback);
        if (!p && !required) return nullptr;
        if (!p) fatal("weft::hook: glibc's %s is not linked in (a static program links weft::hook_static)", name);
        slot.store(p, std::memory_order_release);
    }
    return reinterpret_cast<Fn>(p);
}

// real_NAME(): glibc's NAME; required ones end the program with a message
// when missing, the others (process-shared objects only) return nullptr.
#define WEFT_NEXT(name, type, fallback, required)                                \
    type real_##name() noexcept {                                                 \
        static std::atomic<void*> slot{nullptr};                                  \
        return next_fn<type>(slot, #name, static_cast<type>(fallback), required); \
    }

using mutex_fn = int (*)(pthread_mutex_t*);
using rwlock_fn = int (*)(pthread_rwlock_t*);
using sem_fn = int (*)(sem_t*);
using cond_fn = int (*)(pthread_cond_t*);
using cond_wait_fn = int (*)(pthread_cond_t*, pthread_mutex_t*);
using cond_timedwait_fn = int (*)(pthread_cond_t*, pthread_mutex_t*, const timespec*);
using cond_clockwait_fn = int (*)(pthread_cond_t*, pthread_mutex_t*, clockid_t, const timespec*);
using mutex_timed_fn = int (*)(pthread_mutex_t*, const timespec*);
using mutex_clock_fn = int (*)(pthread_mutex_t*, clockid_t, const timespec*);
using rwlock_clock_fn = int (*)(pthread_rwlock_t*, clockid_t, const timespec*);
using sem_clock_fn = int (*)(sem_t*, clockid_t, const timespec*);

WEFT_NEXT(pthread_mutex_lock, mutex_fn, __pthread_mutex_lock, true)
WEFT_NEXT(pthread_mutex_trylock, mutex_fn, __pthread_mutex_trylock, true)
WEFT_NEXT(pthread_mutex_unlock, mutex_fn, __pthread_mutex_unlock, true)
WEFT_NEXT(pthread_rwlock_rdlock, rwlock_fn, __pthread_rwlock_rdlock, true)
WEFT_NEXT(pthread_rwlock_wrlock, rwlock_fn, __pthread_rwlock_wrlock, true)
WEFT_NEXT(pthread_rwlock_unlock, rwlock_fn, __pthread_rwlock_unlock, true)
WEFT_NEXT(sem_post, sem_fn, __new_sem_post, true)
WEFT_NEXT(sem_wait, sem_fn, __new_sem_wait, true)
// Process-shared objects only: no fallback, a static binary cannot reach them.
WEFT_NEXT(pthread_mutex_timedlock, mutex_timed_fn, nullptr, false)
WEFT_NEXT(pthread_mutex_clocklock, mutex_clock_fn, nullptr, false)
WEFT_NEXT(pthread_rwlock_clockrdlock, rwlock_clock_fn, nullptr, false)
WEFT_NEXT(pthread_rwlock_clockwrlock, rwlock_clock_fn, nullptr, false)
WEFT_NEXT(pthread_cond_wait, cond_wait_fn, nullptr, false)
WEFT_NEXT(pthread_cond_timedwait, cond_timedwait_fn, nullptr, false)
WEFT_NEXT(pthread_cond_clockwait, cond_clockwait_fn, nullptr, false)
WEFT_NEXT(pthread_cond_signal, cond_fn, nullptr, false)
WEFT_NEXT(pthread_cond_broadcast, cond_fn, nullptr, false)
WEFT_NEXT(sem_clockwait, sem_clock_fn, nullptr, false)
#undef WEFT_NEXT

template <class Fn>
Fn need(Fn f, const char* what) noexcept {
    if (!f) fatal("weft::hook: %s on a process-shared object needs glibc's own call, which a static binary lacks", what);
    return f;
}

// glibc's private layouts, read (never written) to tell kinds apart. The
// field names are glibc's public struct members; the bit values its
// internal constants (nptl/pthreadP.h, nptl/pthread_cond_common.c).
constexpr int mutex_kind_type = 3;              // PTHREAD_MUTEX_KIND_MASK_NP
constexpr int mutex_kind_special = 16 | 32 | 64 | 128;  // robust, PI, PP, process-shared
constexpr unsigned cond_shared_bit = 1;         // __wrefs bit 0: process-shared
constexpr unsigned cond_monotonic_bit = 2;      // __wrefs bit 1: CLOCK_MONOTONIC

int mutex_kind(const pthread_mutex_t* m) noexcept { return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED); }
int mutex_owner(const pthread_mutex_t* m) noexcept { return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED); }
bool mutex_passthrough(const pthread_mutex_t* m) noexcept { return (mutex_kind(m) & mutex_kind_special) != 0; }
bool mutex_owned_per_fiber(const pthread_mutex_t* m) noexcept {
    const int t = mutex_kind(m) & mutex_kind_type;
    return t == PTHREAD_MUTEX_RECURSIVE || t == PTHREAD_MUTEX_ERRORCHECK;
}
bool cond_shared(const pthread_cond_t* c) noexcept {
    return (__atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED) & cond_shared_bit) != 0;
}
clockid_t cond_clock(const pthread_cond_t* c) noexcept {
    return (__atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED) & cond_monotonic_bit) ? CLOCK_MONOTONIC
                                                                                       : CLOCK_REALTIME;
}
bool rwlock_shared(const pthread_rwlock_t* l) noexcept { return l->__data.__shared != 0; }
int rwlock_writer(const pthread_rwlock_t* l) noexcept {
    return __atomic_load_n(&l->__data.__cur_writer, __ATOMIC_RELAXED);
}
// 64-bit glibc's new_sem: {uint64 data: value | waiters << 32; int private; int pad}.
struct glibc_sem {
    std::uint64_t data;
    int priv;  // 0: process-private, else process-shared
    int pad;
};
static_assert(sizeof(glibc_sem) <= sizeof(sem_t));
bool sem_shared(const sem_t* s) noexcept { return reinterpret_cast<const glibc_sem*>(s)->priv != 0; }

// ---- who holds what, per fiber --------------------------------------------------

pid_t my_tid() noexcept {
    static thread_local pid_t tid = 0;
    if (tid == 0) tid = static_cast<pid_t>(::syscall(SYS_gettid));
    return tid;
}

// The locks that glibc records as this thread's and that a fiber of this
// worker holds: error-checking and recursive mutexes, rwlocks held for
// writing. Fibers do not move while they hold a legacy lock (a started fiber
// stays on its worker), so a per-thread table is enough.
struct held_lock {
    const void* lock;
    std::uint64_t fiber;
};
constexpr int max_held = 256;
thread_local held_lock held[max_held];
thread_local int nheld = 0;

std::uint64_t holder_of(const void* lock) noexcept {
    for (int i = 0; i < nheld; ++i)
        if (held[i].lock == lock) return held[i].fiber;
    return 0;
}
void note_held(const void* lock, std::uint64_t fiber) noexcept {
    if (holder_of(lock) == fiber) return;
    if (nheld == max_held)
        fatal("weft::hook: the fibers of one worker hold more than %d recursive, error-checking or rwlock "
              "write locks at once",
              max_held);
    held[nheld++] = held_lock{lock, fiber};
}
void note_released(const void* lock) noexcept {
    for (int i = 0; i < nheld; ++i)
        if (held[i].lock == lock) {
            held[i] = held[--nheld];
            return;
        }
}

std::uint64_t me() noexcept { return this_fiber::id(); }

// ---- time ------------------------------------------------------------------------

// An absolute time on `clock` as a steady-clock deadline; false (EINVAL) for
// a bad timespec or clock.
bool abs_deadline(clockid_t clock, const timespec* ts, std::int64_t& deadline_ns) noexcept {
    if (!ts || ts->tv_nsec < 0 || ts->tv_nsec >= 1'000'000'000) return false;
    if (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME) return false;
    if (ts->tv_sec < 0) {
        deadline_ns = 0;  // long past
        return true;
    }
    constexpr std::int64_t max_sec = INT64_MAX / 1'000'000'000 - 1;
    if (ts->tv_sec > max_sec) {
        deadline_ns = no_deadline;
        return true;
    }
    const std::int64_t at = static_cast<std::int64_t>(ts->tv_sec) * 1'000'000'000 + ts->tv_nsec;
    if (clock == CLOCK_MONOTONIC) {
        deadline_ns = at;  // weft's steady clock is CLOCK_MONOTONIC
        return true;
    }
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    const std::int64_t left = at - (static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec);
    deadline_ns = left <= 0 ? 0 : deadline_after_ns(left);
    return true;
}

// pthread calls return their error and leave errno as it was.
class errno_keeper {
public:
    errno_keeper() noexcept : saved_(errno) {}
    ~errno_keeper() { errno = saved_; }

private:
    int saved_;
};

// ---- mutexes -----------------------------------------------------------------------

// One try for fiber `self`: 0, EBUSY, or glibc's error (EAGAIN: recursion
// count full, EINVAL).
int mutex_try(pthread_mutex_t* m, std::uint64_t self) noexcept {
    if (mutex_owned_per_fiber(m) && mutex_owner(m) == my_tid()) {
        // Held on this thread: by self (a recursive re-lock), or by another
        // fiber of this worker, which must be waited for.
        if (holder_of(m) != self) return EBUSY;
        if ((mutex_kind(m) & mutex_kind_type) == PTHREAD_MUTEX_ERRORCHECK) return EBUSY;
        return real_pthread_mutex_trylock()(m);
    }
    const int r = real_pthread_mutex_trylock()(m);
    if (r == 0 && mutex_owned_per_fiber(m)) note_held(m, self);
    return r;
}

// The fiber path of every locking call.
int fiber_mutex_lock(pthread_mutex_t* m, std::int64_t deadline_ns) noexcept {
    const std::uint64_t self = me();
    if (mutex_owned_per_fiber(m) && mutex_owner(m) == my_tid() && holder_of(m) == self) {
        if ((mutex_kind(m) & mutex_kind_type) == PTHREAD_MUTEX_ERRORCHECK) return EDEADLK;
        return real_pthread_mutex_trylock()(m);  // recursive: glibc counts it
    }
    for (;;) {
        const int r = mutex_try(m, self);
        if (r != EBUSY) return r;
        int got = EBUSY;
        const lot_result w = lot_wait(m, deadline_ns, wait_reason::mutex, [&] {
            got = mutex_try(m, self);
            return got != EBUSY;
        });
        if (w == lot_result::acquired) return got;
        if (w == lot_result::timed_out) return ETIMEDOUT;
    }
}

// Threads' and fibers' timed locks: the lot for both (glibc's timed calls
// would miss the lot's wake-ups only for fibers, but a static binary has no
// way to reach them).
int timed_mutex_lock(pthread_mutex_t* m, clockid_t clock, const timespec* ts) noexcept {
    // As glibc: a free mutex is taken whatever the timeout says.
    if (const int r = fiber_worker() ? mutex_try(m, me()) : real_pthread_mutex_trylock()(m); r != EBUSY) return r;
    std::int64_t deadline = 0;
    if (!abs_deadline(clock, ts, deadline)) return EINVAL;
    if (fiber_worker()) return fiber_mutex_lock(m, deadline);
    for (;;) {
        const int r = real_pthread_mutex_trylock()(m);
        if (r != EBUSY) return r;
        int got = EBUSY;
        const lot_result w = lot_wait(m, deadline, wait_reason::mutex, [&] {
            got = real_pthread_mutex_trylock()(m);
            return got != EBUSY;
        });
        if (w == lot_result::acquired) return got;
        if (w == lot_result::timed_out) return ETIMEDOUT;
    }
}

int mutex_unlock(pthread_mutex_t* m) noexcept {
    if (fiber_worker() && mutex_owned_per_fiber(m) && mutex_owner(m) == my_tid()) {
        const std::uint64_t holder = holder_of(m);
        if (holder != 0 && holder != me()) return EPERM;  // another fiber's, as another thread's would be
    }
    const int r = real_pthread_mutex_unlock()(m);
    if (r != 0) return r;
    if (fiber_worker() && mutex_owned_per_fiber(m) && mutex_owner(m) != my_tid()) note_released(m);
    lot_notify(m, 1);
    return 0;
}

// ---- condition variables -------------------------------------------------------------

int mutex_lock_any(pthread_mutex_t* m) noexcept {
    if (fiber_worker() && !mutex_passthrough(m)) return fiber_mutex_lock(m, no_deadline);
    return real_pthread_mutex_lock()(m);
}

// Listed under c before m is released, so a signal by a holder of m after
// its change always finds this waiter. Then m is taken again, as POSIX says,
// also when the wait timed out.
int cond_wait(pthread_cond_t* c, pthread_mutex_t* m, std::int64_t deadline_ns) noexcept {
    int unlocked = -1;
    const lot_result w = lot_wait(c, deadline_ns, wait_reason::condition_variable, [&] {
        unlocked = mutex_unlock(m);
        return unlocked != 0;  // not the holder: give up the wait (EPERM)
    });
    if (unlocked == -1) return ETIMEDOUT;  // the deadline had passed: m was never let go
    if (w == lot_result::acquired) return unlocked;
    const int r = mutex_lock_any(m);
    if (r != 0) return r;
    return w == lot_result::timed_out ? ETIMEDOUT : 0;
}

// ---- rwlocks ------------------------------------------------------------------------

// self: the calling fiber, 0 on a plain thread. The try calls are glibc's
// own (the hooks leave them alone: they never block, and glibc's EBUSY for a
// lock held by another fiber of this thread is what a thread would get).
int rwlock_try(pthread_rwlock_t* l, bool write, std::uint64_t self) noexcept {
    if (rwlock_writer(l) == my_tid() && holder_of(l) == self) return EDEADLK;
    const int r = write ? ::pthread_rwlock_trywrlock(l) : ::pthread_rwlock_tryrdlock(l);
    if (r == 0 && write && self != 0) note_held(l, self);
    return r;
}

int lot_rwlock(pthread_rwlock_t* l, bool write, std::int64_t deadline_ns) noexcept {
    const std::uint64_t self = fiber_worker() ? me() : 0;
    for (;;) {
        int r = rwlock_try(l, write, self);
        if (r != EBUSY) return r;
        const lot_result w = lot_wait(l, deadline_ns, wait_reason::shared_mutex, [&] {
            r = rwlock_try(l, write, self);
            return r != EBUSY;
        });
        if (w == lot_result::acquired) return r;
        if (w == lot_result::timed_out) return ETIMEDOUT;
    }
}

// Whether the lot can serve l: a process-private rwlock.
bool rwlock_in_lot(const pthread_rwlock_t* l) noexcept { return !rwlock_shared(l); }

int rwlock_timed(pthread_rwlock_t* l, bool write, clockid_t clock, const timespec* ts) noexcept {
    if (!rwlock_in_lot(l)) {
        if (write) return need(real_pthread_rwlock_clockwrlock(), "pthread_rwlock_clockwrlock")(l, clock, ts);
        return need(real_pthread_rwlock_clockrdlock(), "pthread_rwlock_clockrdlock")(l, clock, ts);
    }
    const std::uint64_t self = fiber_worker() ? me() : 0;
    if (const int r = rwlock_try(l, write, self); r != EBUSY) return r;
    std::int64_t deadline = 0;
    if (!abs_deadline(clock, ts, deadline)) return EINVAL;
    return lot_rwlock(l, write, deadline);
}

// ---- semaphores -----------------------------------------------------------------------

// sem_trywait is glibc's own (the hooks leave it alone).
int lot_sem_wait(sem_t* s, std::int64_t deadline_ns) noexcept {
    for (;;) {
        if (::sem_trywait(s) == 0) return 0;
        if (errno != EAGAIN) return -1;
        const lot_result w = lot_wait(s, deadline_ns, wait_reason::semaphore, [&] { return ::sem_trywait(s) == 0; });
        if (w == lot_result::acquired) return 0;
        if (w == lot_result::timed_out) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
}

int sem_timed(sem_t* s, clockid_t clock, const timespec* ts) noexcept {
    if (sem_shared(s)) return need(real_sem_clockwait(), "sem_clockwait")(s, clock, ts);
    if (::sem_trywait(s) == 0) return 0;  // as glibc: the timeout is only looked at when it must wait
    std::int64_t deadline = 0;
    if (!abs_deadline(clock, ts, deadline)) {
        errno = EINVAL;
        return -1;
    }
    return lot_sem_wait(s, deadline);
}

}  // namespace
}  // namespace weft::detail::hook

using namespace weft::detail;
using namespace weft::detail::hook;

extern "C" {

// ---- mutexes ----

int pthread_mutex_lock(pthread_mutex_t* m) {
    if (!fiber_worker() || mutex_passthrough(m)) return real_pthread_mutex_lock()(m);
    errno_keeper keep;
    return fiber_mutex_lock(m, no_deadline);
}

int pthread_mutex_trylock(pthread_mutex_t* m) {
    if (!fiber_worker() || mutex_passthrough(m)) return real_pthread_mutex_trylock()(m);
    return mutex_try(m, me());
}

int pthread_mutex_timedlock(pthread_mutex_t* __restrict m, const struct timespec* __restrict ts) {
    if (mutex_passthrough(m)) return need(real_pthread_mutex_timedlock(), "pthread_mutex_timedlock")(m, ts);
    errno_keeper keep;
    return timed_mutex_lock(m, CLOCK_REALTIME, ts);
}

int pthread_mutex_clocklock(pthread_mutex_t* __restrict m, clockid_t clock, const struct timespec* __restrict ts) {
    if (mutex_passthrough(m)) return need(real_pthread_mutex_clocklock(), "pthread_mutex_clocklock")(m, clock, ts);
    errno_keeper keep;
    return timed_mutex_lock(m, clock, ts);
}

int pthread_mutex_unlock(pthread_mutex_t* m) {
    if (mutex_passthrough(m)) return real_pthread_mutex_unlock()(m);
    errno_keeper keep;
    return mutex_unlock(m);
}

// ---- condition variables ----

int pthread_cond_wait(pthread_cond_t* __restrict c, pthread_mutex_t* __restrict m) {
    if (cond_shared(c)) return need(real_pthread_cond_wait(), "pthread_cond_wait")(c, m);
    errno_keeper keep;
    return cond_wait(c, m, no_deadline);
}

int pthread_cond_timedwait(pthread_cond_t* __restrict c, pthread_mutex_t* __restrict m,
                           const struct timespec* __restrict ts) {
    if (cond_shared(c)) return need(real_pthread_cond_timedwait(), "pthread_cond_timedwait")(c, m, ts);
    errno_keeper keep;
    std::int64_t deadline = 0;
    if (!abs_deadline(cond_clock(c), ts, deadline)) return EINVAL;
    return cond_wait(c, m, deadline);
}

int pthread_cond_clockwait(pthread_cond_t* __restrict c, pthread_mutex_t* __restrict m, clockid_t clock,
                           const struct timespec* __restrict ts) {
    if (cond_shared(c)) return need(real_pthread_cond_clockwait(), "pthread_cond_clockwait")(c, m, clock, ts);
    errno_keeper keep;
    std::int64_t deadline = 0;
    if (!abs_deadline(clock, ts, deadline)) return EINVAL;
    return cond_wait(c, m, deadline);
}

int pthread_cond_signal(pthread_cond_t* c) {
    if (cond_shared(c)) return need(real_pthread_cond_signal(), "pthread_cond_signal")(c);
    lot_notify(c, 1);
    return 0;
}

int pthread_cond_broadcast(pthread_cond_t* c) {
    if (cond_shared(c)) return need(real_pthread_cond_broadcast(), "pthread_cond_broadcast")(c);
    lot_notify(c, INT_MAX);
    return 0;
}

// ---- rwlocks ----

int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
    if (!fiber_worker() || !rwlock_in_lot(l)) return real_pthread_rwlock_rdlock()(l);
    errno_keeper keep;
    return lot_rwlock(l, false, no_deadline);
}

int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
    if (!fiber_worker() || !rwlock_in_lot(l)) return real_pthread_rwlock_wrlock()(l);
    errno_keeper keep;
    return lot_rwlock(l, true, no_deadline);
}

int pthread_rwlock_timedrdlock(pthread_rwlock_t* __restrict l, const struct timespec* __restrict ts) {
    errno_keeper keep;
    return rwlock_timed(l, false, CLOCK_REALTIME, ts);
}

int pthread_rwlock_timedwrlock(pthread_rwlock_t* __restrict l, const struct timespec* __restrict ts) {
    errno_keeper keep;
    return rwlock_timed(l, true, CLOCK_REALTIME, ts);
}

int pthread_rwlock_clockrdlock(pthread_rwlock_t* __restrict l, clockid_t clock, const struct timespec* __restrict ts) {
    errno_keeper keep;
    return rwlock_timed(l, false, clock, ts);
}

int pthread_rwlock_clockwrlock(pthread_rwlock_t* __restrict l, clockid_t clock, const struct timespec* __restrict ts) {
    errno_keeper keep;
    return rwlock_timed(l, true, clock, ts);
}

int pthread_rwlock_unlock(pthread_rwlock_t* l) {
    if (rwlock_shared(l)) return real_pthread_rwlock_unlock()(l);
    errno_keeper keep;
    const bool was_writer = fiber_worker() && rwlock_writer(l) == my_tid();
    const int r = real_pthread_rwlock_unlock()(l);
    if (r != 0) return r;
    if (was_writer) note_released(l);
    lot_notify(l, INT_MAX);  // every reader may go on, or one writer: each looks again
    return 0;
}

// ---- semaphores ----

int sem_wait(sem_t* s) {
    if (sem_shared(s) || !fiber_worker()) return real_sem_wait()(s);
    return lot_sem_wait(s, no_deadline);
}

int sem_timedwait(sem_t* __restrict s, const struct timespec* __restrict ts) {
    return sem_timed(s, CLOCK_REALTIME, ts);
}

int sem_clockwait(sem_t* __restrict s, clockid_t clock, const struct timespec* __restrict ts) {
    return sem_timed(s, clock, ts);
}

int sem_post(sem_t* s) {
    const int saved = errno;
    if (real_sem_post()(s) != 0) return -1;
    errno = saved;
    if (!sem_shared(s)) lot_notify(s, 1);
    return 0;
}

}  // extern "C"
