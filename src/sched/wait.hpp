// The one wait primitive. Everything in weft that blocks (sleep, fd readiness,
// the sync primitives, channels and select, join, offload, runtime
// quiescence, signal_wait, the hooks) waits through a waiter: a parked fiber
// (on any worker) or a plain thread sleeping on the futex wrapper. A waiter
// ends exactly once: notified, timed out or canceled, whichever claims it
// first; while it waits, its fiber shows a typed wait_reason in dumps.
//
// The protocol, for a primitive guarded by its own lock:
//   prepare_wait(w, d, ...)  before the lock: cancel/deadline checks
//   lock; if (can go on) ...; arm(w, reason); list.push_back(&w); unlock
//   block(w, d, cancelable)  parks or sleeps
//   lock; if (!notified) list.remove(&w); unlock
// and a notifier: lock; claim_front(list, t); unlock; deliver(t).
#pragma once

#include <atomic>
#include <cstdint>

#include "fiber/fiber.hpp"
#include "platform/clock.hpp"
#include "weft/detail/wait_queue.hpp"

namespace weft::detail {

class worker;
class reactor;

// A waiter's state: it leaves `waiting` once. A notifier moves it to
// `delivering` (claim) and, when its wake-up is complete and it will touch
// nothing of the waiter's any more, to `notified` (end of deliver). A waiter
// that wakes for another reason and finds `delivering` waits for `notified`,
// so a waiter (its fiber, its worker) never vanishes under a delivery.
enum class wait_outcome : std::uint32_t { waiting = 0, notified = 1, timed_out = 2, canceled = 3, delivering = 4 };

struct waiter {
    std::atomic<std::uint32_t> state{0};  // a wait_outcome; leaves `waiting` once
    fiber* f = nullptr;                   // null for a plain thread
    worker* owner = nullptr;
    std::uint64_t seq = 0;
    waiter* prev = nullptr;  // wait_list links, guarded by the primitive's lock
    waiter* next = nullptr;
    bool linked = false;
    bool remote = false;  // counted as a wait another thread may end (deadlock report)
    void* item = nullptr;  // what a primitive hands over with the notification (channels)
};

// A plain thread's stop_scopes (weft/stop.hpp): a stopped scope makes the
// thread's cancelable waits fail with canceled, as a fiber's cancel does.
// A fiber keeps the same count in fiber::stops and is woken by its worker.
struct thread_stop_state {
    std::atomic<unsigned> stops{0};  // stopped scopes still open on the thread
    unsigned scopes = 0;             // open scopes; the thread's own
    spinlock lock;
    waiter* current = nullptr;       // the cancelable wait in progress, guarded by lock
};
thread_stop_state& this_thread_stop() noexcept;
// Any thread, after raising ts.stops: ends the thread's current cancelable
// wait as canceled.
void interrupt_thread(thread_stop_state& ts) noexcept;

// What a notifier needs to wake a waiter, copied out before claiming it:
// once claimed, a waiter may return and its memory vanish at any moment.
struct wake_target {
    fiber* f;
    worker* owner;
    std::uint64_t seq;
    std::atomic<std::uint32_t>* state;
};

// Before taking the primitive's lock: checks cancellation (if cancelable)
// and the deadline (min of deadline_ns and, if honour_scope, the fiber's
// deadline_scope, written back) and makes sure the worker can be woken from
// other threads. Returns `waiting` when the caller may go on to arm(),
// enqueue and block(); otherwise timed_out / canceled. A wait that has no way
// to report failure (mutex::lock) passes false for both.
// Throws std::system_error if the worker's reactor cannot be made.
wait_outcome prepare_wait(waiter& w, std::int64_t& deadline_ns, bool cancelable, bool honour_scope);
inline wait_outcome prepare_wait(waiter& w, std::int64_t& deadline_ns, bool cancelable) {
    return prepare_wait(w, deadline_ns, cancelable, cancelable);
}
// Under the primitive's lock, just before w is enqueued: binds w to the
// calling fiber's current wait (or to the calling thread) and records why.
// remote = false: only a fiber of this worker can end the wait (the deadlock
// report of weft::run may then fire while it lasts).
void arm(waiter& w, wait_reason why, bool remote = true) noexcept;

// Blocks until w is notified, the deadline passes, or (if cancelable) the
// fiber is canceled or a stop_scope around the wait is stopped. On
// timed_out / canceled the caller removes w from its list under its lock.
// A thread outside weft blocks on a futex.
wait_outcome block(waiter& w, std::int64_t deadline_ns, bool cancelable) noexcept;

// Under the primitive's lock, after unlinking w: claims it for notification.
// False when w already timed out or was canceled (it will unlink itself).
// Inline: every hand-off runs it.
inline bool claim(waiter& w, wake_target& t) noexcept {
    constexpr auto waiting_v = static_cast<std::uint32_t>(wait_outcome::waiting);
    constexpr auto delivering_v = static_cast<std::uint32_t>(wait_outcome::delivering);
    t = wake_target{w.f, w.owner, w.seq, &w.state};
    if (process_single_threaded()) {
        // The waiter is a parked fiber of this thread: it cannot end its
        // own wait before it runs again, so nothing races with this.
        if (w.state.load(std::memory_order_relaxed) != waiting_v) return false;
        w.state.store(delivering_v, std::memory_order_relaxed);
        return true;
    }
    std::uint32_t expected = waiting_v;
    return w.state.compare_exchange_strong(expected, delivering_v, std::memory_order_acq_rel);
}
// Ends a wait that was armed and listed but will not block after all (the
// caller found what it waited for on a last look): after the caller has
// unlinked w under its lock, or found it already claimed, waits out a
// delivery in flight and makes any wake-up of it stale. Returns whether a
// notifier had claimed it (so the caller consumed a notification).
bool disarm(waiter& w) noexcept;

// Wakes a claimed waiter; any thread, lock not needed.
void deliver(const wake_target& t) noexcept;

// Pops waiters from the front until one can be claimed; false when none can.
bool claim_front(wait_list& list, wake_target& t, void** item = nullptr) noexcept;

// The start of every blocking call of a fiber: aborts with a message when
// there is no fiber to park (`what` names the call), then narrows
// deadline_ns by the fiber's deadline_scope and fails with
// operation_canceled or timed_out if the call must not even start.
std::error_code begin_blocking(std::int64_t& deadline_ns, const char* what);
// Only the misuse check of begin_blocking: for a call that tries its work
// first and leaves the deadline and cancel to the wait it may come to.
void require_fiber(const char* what);

// The reactor backend of the calling fiber's worker, made on first use
// (throws std::system_error). Fibers only.
reactor* fiber_reactor();

// The calling fiber's worker; nullptr on a plain thread or a worker's own
// stack (for layers that only need to know which).
worker* current_fiber_worker() noexcept;

// A wait with no notifier: until the deadline, or (if cancelable) cancel().
// Fibers only. timed_out when the deadline passed, canceled, or notified
// (which cannot happen here) — the caller maps it.
wait_outcome sleep_wait(std::int64_t deadline_ns, bool cancelable, wait_reason why);

}  // namespace weft::detail
