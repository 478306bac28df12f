// Waiters: fibers park through their worker, threads sleep on a futex; the
// state word decides who ends a wait, so racing ends never double-wake.
#include "sync/waiter.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>
#include <sched.h>

#include "common/assert.hpp"
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

namespace {
long futex(std::atomic<std::uint32_t>* addr, int op, std::uint32_t val, const timespec* ts) noexcept {
    return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), op, val, ts, nullptr, 0);
}
}  // namespace

wait_outcome prepare_wait(waiter& w, std::int64_t& deadline_ns, bool cancelable, bool honour_scope) {
    w.state.store(static_cast<std::uint32_t>(wait_outcome::waiting), std::memory_order_relaxed);
    w.item = nullptr;
    w.f = nullptr;
    w.owner = nullptr;
    worker* wk = worker::current();
    if (wk && wk->on_fiber()) {
        const fiber* self = wk->running();
        if (cancelable && self->cancel_requested) return wait_outcome::canceled;
        if (honour_scope && self->scope_deadline < deadline_ns) deadline_ns = self->scope_deadline;
        wk->ensure_reactor();
    }
    if (deadline_ns != no_deadline && deadline_ns <= steady_now_ns()) return wait_outcome::timed_out;
    return wait_outcome::waiting;
}

void arm(waiter& w) noexcept {
    worker* wk = worker::current();
    if (wk && wk->on_fiber()) {
        w.f = wk->running();
        w.owner = wk;
        w.seq = wk->begin_remote_wait();
    }
}

namespace {
constexpr auto waiting_v = static_cast<std::uint32_t>(wait_outcome::waiting);
constexpr auto notified_v = static_cast<std::uint32_t>(wait_outcome::notified);
constexpr auto delivering_v = static_cast<std::uint32_t>(wait_outcome::delivering);

// A notifier on another thread is between claim and the end of deliver:
// a few instructions and one wake-up. Wait it out.
void await_delivery(waiter& w) noexcept {
    for (unsigned spins = 0; w.state.load(std::memory_order_acquire) == delivering_v; ++spins) {
        if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
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
            const wake_reason why = wk->park_until(deadline_ns, cancelable);
            const std::uint32_t st = w.state.load(std::memory_order_acquire);
            if (st != waiting_v) {
                await_delivery(w);
                result = wait_outcome::notified;
                break;
            }
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
        wk->end_remote_wait();
        return result;
    }
    for (;;) {
        const std::uint32_t st = w.state.load(std::memory_order_acquire);
        if (st == notified_v) return wait_outcome::notified;
        if (st == delivering_v) {
            futex(&w.state, FUTEX_WAIT_PRIVATE, delivering_v, nullptr);  // deliver wakes us
            continue;
        }
        timespec ts{};
        const timespec* tsp = nullptr;
        if (deadline_ns != no_deadline) {
            const std::int64_t left = deadline_ns - steady_now_ns();
            if (left <= 0) return end_by_self(w, wait_outcome::timed_out);
            ts.tv_sec = static_cast<time_t>(left / 1'000'000'000);
            ts.tv_nsec = static_cast<long>(left % 1'000'000'000);
            tsp = &ts;
        }
        futex(&w.state, FUTEX_WAIT_PRIVATE, waiting_v, tsp);
    }
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
    futex(t.state, FUTEX_WAKE_PRIVATE, 1, nullptr);
}

}  // namespace weft::detail
