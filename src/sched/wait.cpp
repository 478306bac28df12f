// Waiters: fibers park through their worker, threads sleep on the futex
// wrapper; the state word decides who ends a wait, so racing ends never
// double-wake.
#include "sched/wait.hpp"

#include <sched.h>

#include "common/assert.hpp"
#include "platform/futex.hpp"
#include "sched/worker.hpp"

namespace weft::detail {

void wait_list::push_back(waiter* w) noexcept {
    w->next = nullptr;
    w->prev = tail_;
    if (tail_) tail_->next = w;
    else head_ = w;
    tail_ = w;
    w->linked = true;
}

void wait_list::remove(waiter* w) noexcept {
    if (!w->linked) return;
    if (w->prev) w->prev->next = w->next;
    else head_ = w->next;
    if (w->next) w->next->prev = w->prev;
    else tail_ = w->prev;
    w->prev = w->next = nullptr;
    w->linked = false;
}

waiter* wait_list::pop_front() noexcept {
    waiter* w = head_;
    if (w) remove(w);
    return w;
}

wait_outcome prepare_wait(waiter& w, std::int64_t& deadline_ns, bool cancelable, bool honour_scope) {
    w.state.store(static_cast<std::uint32_t>(wait_outcome::waiting), std::memory_order_relaxed);
    w.item = nullptr;
    w.f = nullptr;
    w.owner = nullptr;
    worker* wk = worker::current();
    if (wk && wk->on_fiber()) {
        const fiber* self = wk->running();
        if (cancelable && fiber_canceled(self)) return wait_outcome::canceled;
        if (honour_scope && self->scope_deadline < deadline_ns) deadline_ns = self->scope_deadline;
        wk->ensure_reactor();
    } else if (cancelable && this_thread_stop().stops.load(std::memory_order_seq_cst) != 0) {
        return wait_outcome::canceled;  // a plain thread in a stopped stop_scope
    }
    if (deadline_ns != no_deadline && deadline_ns <= steady_now_ns()) return wait_outcome::timed_out;
    return wait_outcome::waiting;
}

void arm(waiter& w, wait_reason why, bool remote) noexcept {
    worker* wk = worker::current();
    if (wk && wk->on_fiber()) {
        w.f = wk->running();
        w.owner = wk;
        w.remote = remote;
        w.seq = remote ? wk->begin_remote_wait() : bump_wait_seq(w.f);
        w.f->waiting_on = why;
    }
}

namespace {
constexpr auto waiting_v = static_cast<std::uint32_t>(wait_outcome::waiting);
constexpr auto notified_v = static_cast<std::uint32_t>(wait_outcome::notified);
constexpr auto delivering_v = static_cast<std::uint32_t>(wait_outcome::delivering);
constexpr auto canceled_v = static_cast<std::uint32_t>(wait_outcome::canceled);

thread_local thread_stop_state thread_stop;

// A notifier on another thread is between claim and the end of deliver:
// a few instructions and one wake-up. Wait it out.
void await_delivery(waiter& w) noexcept {
    for (unsigned spins = 0; w.state.load(std::memory_order_acquire) == delivering_v; ++spins) {
        if (spins < 64) {
            cpu_relax();
        } else {
            ::sched_yield();
        }
    }
}

// The waiter's own end of the race: claim it for a timeout or cancel, or
// learn that a notifier got there first (and let its delivery finish).
wait_outcome end_by_self(waiter& w, wait_outcome why) noexcept {
    std::uint32_t expected = waiting_v;
    if (w.state.compare_exchange_strong(expected, static_cast<std::uint32_t>(why), std::memory_order_acq_rel))
        return why;
    await_delivery(w);
    return wait_outcome::notified;
}
}  // namespace

wait_outcome block(waiter& w, std::int64_t deadline_ns, bool cancelable) noexcept {
    if (w.f) {
        worker* wk = w.owner;
        wait_outcome result;
        for (;;) {
            // Also before the first park: a notifier may have come first.
            if (w.state.load(std::memory_order_acquire) != waiting_v) {
                await_delivery(w);
                result = wait_outcome::notified;
                break;
            }
            const wake_reason why = wk->park_until(deadline_ns, cancelable);
            // A notifier may race the timeout or cancel: end_by_self decides.
            if (why == wake_reason::timeout) {
                result = end_by_self(w, wait_outcome::timed_out);
                break;
            }
            if (why == wake_reason::canceled) {
                result = end_by_self(w, wait_outcome::canceled);
                break;
            }
            // Any other wake is not for this wait: park again.
        }
        if (w.remote) wk->end_remote_wait();
        else bump_wait_seq(w.f);  // any wake still in flight for this wait is now stale
        return result;
    }
    // A thread inside a stop_scope: publish the wait, so that a stop (from
    // any thread) can end it (interrupt_thread), then look at the count.
    thread_stop_state* ts = nullptr;
    if (cancelable && thread_stop.scopes != 0) {
        ts = &thread_stop;
        ts->lock.lock();
        ts->current = &w;
        ts->lock.unlock();
    }
    wait_outcome result;
    for (;;) {
        const std::uint32_t st = w.state.load(std::memory_order_acquire);
        if (st == notified_v) {
            result = wait_outcome::notified;
            break;
        }
        if (st == canceled_v) {  // interrupt_thread claimed it
            result = wait_outcome::canceled;
            break;
        }
        if (st == delivering_v) {
            futex_wait(w.state, delivering_v);  // deliver wakes us
            continue;
        }
        if (ts && ts->stops.load(std::memory_order_seq_cst) != 0) {  // stopped before we published
            result = end_by_self(w, wait_outcome::canceled);
            break;
        }
        if (deadline_ns != no_deadline && deadline_ns <= steady_now_ns()) {
            result = end_by_self(w, wait_outcome::timed_out);
            break;
        }
        futex_wait(w.state, waiting_v, deadline_ns);
    }
    if (ts) {
        // After this no stop touches w.
        ts->lock.lock();
        ts->current = nullptr;
        ts->lock.unlock();
    }
    return result;
}

thread_stop_state& this_thread_stop() noexcept { return thread_stop; }

void interrupt_thread(thread_stop_state& ts) noexcept {
    ts.lock.lock();
    if (waiter* w = ts.current) {
        std::uint32_t expected = waiting_v;
        if (w->state.compare_exchange_strong(expected, canceled_v, std::memory_order_acq_rel)) futex_wake(w->state);
    }
    ts.lock.unlock();
}

bool disarm(waiter& w) noexcept {
    const bool claimed = end_by_self(w, wait_outcome::canceled) == wait_outcome::notified;
    if (w.f) {
        if (w.remote) w.owner->end_remote_wait();
        else bump_wait_seq(w.f);
    }
    return claimed;
}

bool claim_front(wait_list& list, wake_target& t, void** item) noexcept {
    while (waiter* w = list.pop_front()) {
        void* it = w->item;
        if (claim(*w, t)) {
            if (item) *item = it;
            return true;
        }
    }
    return false;
}

void deliver(const wake_target& t) noexcept {
    if (t.f) {
        if (worker::current() == t.owner) t.owner->wake(t.f, wake_reason::ready);
        else t.owner->remote_wake(t.f, t.seq);
        // Last touch: from here the waiter may return, and its fiber and worker end.
        t.state->store(notified_v, std::memory_order_release);
        return;
    }
    t.state->store(notified_v, std::memory_order_release);
    // The thread may already have seen `notified` and left; a wake on a dead
    // futex word is harmless, and futex waiters tolerate spurious wakes.
    futex_wake(*t.state);
}

std::error_code begin_blocking(std::int64_t& deadline_ns, const char* what) {
    worker* w = worker::current();
    if (!w || !w->on_fiber()) fatal("weft: misuse: %s was made outside a fiber", what);
    return w->begin_blocking(deadline_ns);
}

void require_fiber(const char* what) {
    worker* w = worker::current();
    if (!w || !w->on_fiber()) fatal("weft: misuse: %s was made outside a fiber", what);
}

reactor* fiber_reactor() {
    worker* w = worker::current();
    w->ensure_reactor();
    return w->io_reactor();
}

worker* current_fiber_worker() noexcept {
    worker* w = worker::current();
    return w && w->on_fiber() ? w : nullptr;
}

wait_outcome sleep_wait(std::int64_t deadline_ns, bool cancelable, wait_reason why) {
    waiter w;
    std::int64_t d = deadline_ns;
    if (const wait_outcome pre = prepare_wait(w, d, cancelable, false); pre != wait_outcome::waiting) return pre;
    arm(w, why);
    return block(w, d, cancelable);
}

}  // namespace weft::detail
