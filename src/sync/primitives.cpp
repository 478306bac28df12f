// semaphore, event, wait_group, barrier, call_once, future and shared_mutex
// on top of waiters.
//
// Two rules keep a primitive's memory safe to free as soon as a wait on it
// returns (an event or wait_group on the waiter's stack, say):
//  - every check of the state, fast paths included, happens under the lock;
//  - a notifier claims and delivers under the lock, and a notified waiter
//    takes the lock once before it returns, so whoever woke it has left the
//    primitive (and has finished talking to the waiter's worker) by then.
// Delivering under the lock is what condition_variable::notify_all does too.
#include "weft/sync/barrier.hpp"
#include "weft/sync/call_once.hpp"
#include "weft/sync/event.hpp"
#include "weft/sync/future.hpp"
#include "weft/sync/semaphore.hpp"
#include "weft/sync/shared_mutex.hpp"
#include "weft/sync/wait_group.hpp"

#include <cstdint>
#include <mutex>
#include <utility>

#include "common/assert.hpp"
#include "sched/wait.hpp"
#include "sched/wait.hpp"

namespace weft {

using detail::wait_outcome;

namespace {

std::error_code to_error(wait_outcome r) noexcept {
    switch (r) {
        case wait_outcome::timed_out: return std::make_error_code(std::errc::timed_out);
        case wait_outcome::canceled: return std::make_error_code(std::errc::operation_canceled);
        default: return {};
    }
}

// The one shape of every wait here. Under `guard`, ready() says whether the
// caller may go on now (taking what it waits for); if not, the caller queues
// on `list` and blocks until a notifier claims it (having done the taking on
// its behalf), the deadline passes or the fiber is canceled. `unfailing`:
// no deadline, no cancel, no deadline_scope; only a notification ends it.
template <class Ready>
std::error_code wait_on(detail::spinlock& guard, detail::wait_list& list, std::int64_t deadline_ns,
                        bool unfailing, detail::wait_reason why, Ready ready) {
    detail::waiter w;
    std::int64_t d = deadline_ns;
    const bool cancelable = !unfailing;
    // An unfailing wait ignores cancel and deadline_scope: it has no way to report them.
    const wait_outcome pre = detail::prepare_wait(w, d, cancelable, /*honour_scope=*/cancelable);
    guard.lock();
    if (ready()) {
        guard.unlock();
        return {};
    }
    if (pre != wait_outcome::waiting) {  // deadline already passed, or canceled
        guard.unlock();
        return to_error(pre);
    }
    detail::arm(w, why);
    list.push_back(&w);
    guard.unlock();
    const wait_outcome r = detail::block(w, d, cancelable);
    // Notified: wait until the notifier has left the lock (see the top).
    // Otherwise: unlink ourselves; no notifier claimed us, so nothing was
    // taken on our behalf.
    guard.lock();
    if (r != wait_outcome::notified) list.remove(&w);
    guard.unlock();
    return to_error(r);
}

// Under the lock: claims and wakes every waiter of `list`.
void wake_all(detail::wait_list& list) noexcept {
    detail::wake_target t;
    while (detail::claim_front(list, t)) detail::deliver(t);
}

}  // namespace

// ---- semaphore ----------------------------------------------------------------

semaphore::semaphore(std::ptrdiff_t initial) : count_(initial) {
    if (initial < 0) detail::fatal("weft: misuse: weft::semaphore with a negative initial count (%td)", initial);
}

void semaphore::acquire() {
    if (std::error_code ec = acquire_until_ns(detail::no_deadline)) detail::throw_error(ec, "weft::semaphore::acquire");
}

bool semaphore::try_acquire() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    if (count_ == 0) return false;  // count_ > 0 means nobody is queued to overtake
    --count_;
    return true;
}

std::error_code semaphore::acquire_until_ns(std::int64_t deadline_ns) {
    return wait_on(guard_, waiters_, deadline_ns, false, detail::wait_reason::semaphore, [&] {
        if (count_ == 0) return false;
        --count_;
        return true;
    });
}

void semaphore::release(std::ptrdiff_t n) {
    if (n < 0) detail::fatal("weft: misuse: weft::semaphore::release(%td)", n);
    std::lock_guard<detail::spinlock> lock(guard_);
    detail::wake_target t;
    // Hand units straight to waiters, longest first; a claimed waiter owns its unit.
    while (n > 0 && detail::claim_front(waiters_, t)) {
        detail::deliver(t);
        --n;
    }
    if (n > PTRDIFF_MAX - count_) detail::fatal("weft: misuse: weft::semaphore count overflows");
    count_ += n;
}

std::ptrdiff_t semaphore::available() const noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    return count_;
}

// ---- event --------------------------------------------------------------------

void event::set() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    if (mode_ == manual_reset) {
        set_ = true;
        wake_all(waiters_);
        return;
    }
    // auto_reset: hand the event to the longest waiter; it stays clear.
    detail::wake_target t;
    if (detail::claim_front(waiters_, t)) detail::deliver(t);
    else set_ = true;
}

void event::reset() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    set_ = false;
}

bool event::is_set() const noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    return set_;
}

void event::wait() {
    if (std::error_code ec = wait_until_ns(detail::no_deadline)) detail::throw_error(ec, "weft::event::wait");
}

std::error_code event::wait_until_ns(std::int64_t deadline_ns) {
    return wait_on(guard_, waiters_, deadline_ns, false, detail::wait_reason::event, [&] {
        if (!set_) return false;
        if (mode_ == auto_reset) set_ = false;
        return true;
    });
}

// ---- wait_group ---------------------------------------------------------------

void wait_group::add(std::int64_t n) noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    const std::int64_t was = count_;
    if (__builtin_add_overflow(was, n, &count_) || count_ < 0)
        detail::fatal("weft: misuse: weft::wait_group counter went negative (%lld%+lld)",
                      static_cast<long long>(was), static_cast<long long>(n));
    if (count_ == 0) wake_all(waiters_);
}

std::int64_t wait_group::count() const noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    return count_;
}

void wait_group::wait() {
    if (std::error_code ec = wait_until_ns(detail::no_deadline)) detail::throw_error(ec, "weft::wait_group::wait");
}

std::error_code wait_group::wait_until_ns(std::int64_t deadline_ns) {
    return wait_on(guard_, waiters_, deadline_ns, false, detail::wait_reason::wait_group, [&] { return count_ == 0; });
}

// ---- barrier ------------------------------------------------------------------

barrier::barrier(std::size_t parties) : parties_(parties) {
    if (parties == 0) detail::fatal("weft: misuse: weft::barrier for 0 parties");
}

bool barrier::arrive_and_wait() {
    bool serial = false;
    // Each arrival is its own waiter; a phase's waiters are exactly the list
    // when the last one arrives, so a waiter woken into the next phase cannot
    // be confused with a newcomer.
    wait_on(guard_, waiters_, detail::no_deadline, true, detail::wait_reason::barrier, [&] {
        if (++arrived_ < parties_) return false;
        arrived_ = 0;
        serial = true;
        wake_all(waiters_);
        return true;
    });
    return serial;
}

// ---- call_once ----------------------------------------------------------------

bool once_flag::begin() {
    bool run = false;
    wait_on(guard_, waiters_, detail::no_deadline, true, detail::wait_reason::call_once, [&] {
        const std::uint32_t s = state_.load(std::memory_order_relaxed);
        if (s == done) return true;
        if (s == running) return false;
        state_.store(running, std::memory_order_relaxed);
        run = true;
        return true;
    });
    // Woken by finish() (done) or by abort() handing the call to us (running).
    if (!run) run = state_.load(std::memory_order_acquire) != done;
    return run;
}

void once_flag::finish() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    state_.store(done, std::memory_order_release);
    wake_all(waiters_);
}

void once_flag::abort() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    detail::wake_target t;
    // The longest waiter runs it next; the state stays `running` for it.
    if (detail::claim_front(waiters_, t)) detail::deliver(t);
    else state_.store(idle, std::memory_order_relaxed);
}

// ---- future -------------------------------------------------------------------

void detail::future_state_base::make_ready() noexcept {
    std::lock_guard<spinlock> lock(guard_);
    ready_ = true;
    wake_all(waiters_);
}

bool detail::future_state_base::is_ready() const noexcept {
    std::lock_guard<spinlock> lock(guard_);
    return ready_;
}

std::error_code detail::future_state_base::wait_until_ns(std::int64_t deadline_ns) {
    return wait_on(guard_, waiters_, deadline_ns, false, detail::wait_reason::future, [&] { return ready_; });
}

// ---- shared_mutex -------------------------------------------------------------

void shared_mutex::lock() {
    wait_on(guard_, writers_, detail::no_deadline, true, detail::wait_reason::shared_mutex, [&] {
        if (writer_ || readers_ != 0) return false;
        WEFT_ASSERT(writers_.empty() && readers_q_.empty(), "a free shared_mutex has no waiters");
        writer_ = true;
        return true;
    });
}

bool shared_mutex::try_lock() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    if (writer_ || readers_ != 0) return false;
    writer_ = true;
    return true;
}

void shared_mutex::unlock() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    detail::wake_target t;
    if (!readers_q_.empty()) {
        // The readers that queued behind this writer go in together; writers
        // still waiting keep new readers out until they have had their turn.
        writer_ = false;
        while (detail::claim_front(readers_q_, t)) {
            ++readers_;
            detail::deliver(t);
        }
    } else if (detail::claim_front(writers_, t)) {
        detail::deliver(t);  // handed over: writer_ stays set, now for it
    } else {
        writer_ = false;
    }
}

void shared_mutex::lock_shared() {
    // A reader queued here was let in by unlock(), which counted it.
    wait_on(guard_, readers_q_, detail::no_deadline, true, detail::wait_reason::shared_mutex, [&] {
        if (writer_ || !writers_.empty()) return false;
        ++readers_;
        return true;
    });
}

bool shared_mutex::try_lock_shared() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    if (writer_ || !writers_.empty()) return false;
    ++readers_;
    return true;
}

void shared_mutex::unlock_shared() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    WEFT_ASSERT(readers_ > 0 && !writer_, "unlock_shared of a shared_mutex held shared");
    if (--readers_ != 0) return;
    detail::wake_target t;
    if (detail::claim_front(writers_, t)) {
        writer_ = true;
        detail::deliver(t);
    }
}

}  // namespace weft
