// mutex and condition_variable slow paths on top of waiters.
#include "weft/sync/condition_variable.hpp"
#include "weft/sync/mutex.hpp"

#include <mutex>
#include <new>
#include <vector>

#include "sched/wait.hpp"

namespace weft {

using detail::wait_outcome;

bool mutex::lock_slow(std::int64_t deadline_ns, bool cancelable) {
    detail::waiter w;
    std::int64_t d = deadline_ns;
    if (detail::prepare_wait(w, d, cancelable) != wait_outcome::waiting) return try_lock();
    guard_.lock();
    for (;;) {
        std::uint32_t s = state_.load(std::memory_order_relaxed);
        if (s == 0) {
            if (state_.compare_exchange_weak(s, 1, std::memory_order_acquire)) {
                guard_.unlock();
                return true;
            }
            continue;
        }
        // Mark it contended so unlock() takes the slow path and finds us.
        if (s == 1 && !state_.compare_exchange_weak(s, 2, std::memory_order_relaxed)) continue;
        break;
    }
    detail::arm(w, detail::wait_reason::mutex);
    waiters_.push_back(&w);
    guard_.unlock();
    if (detail::block(w, d, cancelable) == wait_outcome::notified) return true;  // handed over
    guard_.lock();
    waiters_.remove(&w);
    guard_.unlock();
    return false;
}

void mutex::unlock_slow() noexcept {
    // unlock() left state_ at 1: held, so nobody can take it while the
    // waiters are looked at. lock_slow marks 2 under guard_ only, so the
    // store below cannot lose a newer mark.
    detail::wake_target t;
    guard_.lock();
    if (detail::claim_front(waiters_, t)) {
        // Hand over: the lock stays held, now by the woken waiter.
        state_.store(waiters_.empty() ? 1 : 2, std::memory_order_relaxed);
        guard_.unlock();
        detail::deliver(t);
        return;
    }
    state_.store(0, std::memory_order_release);  // every waiter had timed out
    guard_.unlock();
}

void condition_variable::notify_one() noexcept {
    detail::wake_target t;
    guard_.lock();
    const bool any = detail::claim_front(waiters_, t);
    guard_.unlock();
    if (any) detail::deliver(t);
}

void condition_variable::notify_all() noexcept {
    // Claim under the lock, deliver after it: a woken waiter may destroy
    // this condition variable at once, so nothing of it may be touched then.
    std::vector<detail::wake_target> targets;
    detail::wake_target t;
    guard_.lock();
    while (detail::claim_front(waiters_, t)) {
        try {
            targets.push_back(t);
        } catch (const std::bad_alloc&) {
            guard_.unlock();
            detail::deliver(t);  // out of memory: wake one at a time
            guard_.lock();
        }
    }
    guard_.unlock();
    for (const auto& target : targets) detail::deliver(target);
}

std::cv_status condition_variable::wait_until_ns(std::unique_lock<mutex>& lk, std::int64_t deadline_ns) {
    // Not cancelable (no error path), but a deadline_scope ends it as a timeout.
    return wait_ns(lk, deadline_ns, false) == wake::notified ? std::cv_status::no_timeout : std::cv_status::timeout;
}

condition_variable::wake condition_variable::wait_ns(std::unique_lock<mutex>& lk, std::int64_t deadline_ns,
                                                     bool cancelable) {
    detail::waiter w;
    std::int64_t d = deadline_ns;
    switch (detail::prepare_wait(w, d, cancelable, true)) {
        case wait_outcome::waiting: break;
        case wait_outcome::canceled: return wake::canceled;
        default: return wake::timeout;
    }
    guard_.lock();
    detail::arm(w, detail::wait_reason::condition_variable);
    waiters_.push_back(&w);
    guard_.unlock();
    lk.unlock();
    const wait_outcome r = detail::block(w, d, cancelable);
    if (r != wait_outcome::notified) {
        guard_.lock();
        waiters_.remove(&w);
        guard_.unlock();
    }
    lk.lock();
    switch (r) {
        case wait_outcome::notified: return wake::notified;
        case wait_outcome::canceled: return wake::canceled;
        default: return wake::timeout;
    }
}

}  // namespace weft
