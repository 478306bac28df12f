// The worker's dealings with other threads: the remote queue (wake-ups,
// cancels, new fibers, frees), freeing and canceling fibers from any thread,
// handing unstarted fibers to idle workers, and sleeping when idle.
#include <algorithm>
#include <climits>

#include "common/assert.hpp"
#include "sched/wait.hpp"
#include "sched/worker.hpp"

namespace weft::detail {

namespace {
// How far an idle worker looks into a victim's run queue for fibers to take.
constexpr std::size_t steal_scan_limit = 256;
// When a fresh fiber is worth taking from a busy worker (see worker::steal).
constexpr unsigned steal_after = 64;
constexpr std::size_t steal_queue = 64;
}  // namespace

// ---- worker_group ------------------------------------------------------------

worker* worker_group::pick(int placement) noexcept {
    const std::size_t n = workers.size();
    if (placement >= 0) return workers[static_cast<std::size_t>(placement) % n];
    return workers[next_worker.fetch_add(1, std::memory_order_relaxed) % n];
}

void worker_group::wake_all() noexcept {
    for (worker* w : workers) w->notify();
}

// ---- the remote queue --------------------------------------------------------

void worker::ensure_reactor() {
    if (!reactor_) reactor_ = acquire_reactor();
}

std::uint64_t worker::begin_remote_wait() noexcept {
    ++remote_waiters_;
    return bump_wait_seq(current_);
}

void worker::end_remote_wait() noexcept {
    --remote_waiters_;
    bump_wait_seq(current_);  // any wake still in flight for this wait is now stale
}

void worker::post(remote_kind kind, fiber* f, std::uint64_t seq) noexcept {
    // All under the lock: the woken fiber can only run after drain_remote()
    // takes the entry, so this worker (and its reactor) outlives the call.
    std::lock_guard<os_mutex> lock(remote_mu_);
    remote_.push_back(remote_entry{f, seq, kind});
    // seq_cst pairs with idle_wait(): either it sees the entry before it
    // sleeps, or this sees it sleeping and wakes it.
    remote_pending_.store(true, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst)) reactor_->wake();
}

void worker::post_batch(fiber* list) noexcept {
    std::lock_guard<os_mutex> lock(remote_mu_);
    for (fiber* f = list; f;) {
        fiber* next = f->next;
        remote_.push_back(remote_entry{f, 0, remote_kind::start});
        f = next;
    }
    remote_pending_.store(true, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst)) reactor_->wake();
}

void worker::remote_wake(fiber* f, std::uint64_t seq) noexcept { post(remote_kind::wake, f, seq); }

void worker::start_remote(fiber* f) noexcept {
    if (group_) group_->fiber_started();
    post(remote_kind::start, f, 0);
}

void worker::drain_remote() noexcept {
    if (!remote_pending_.load(std::memory_order_acquire)) return;
    {
        std::lock_guard<os_mutex> lock(remote_mu_);
        remote_pending_.store(false, std::memory_order_relaxed);
        for (const remote_entry& e : remote_) {
            fiber* f = e.f;
            switch (e.kind) {
                case remote_kind::start: adopt(f); break;
                case remote_kind::wake:
                    // Dropped when late (the wait ended some other way) or
                    // when the fiber has since moved to another worker.
                    if (f->owner.load(std::memory_order_relaxed) == this &&
                        f->wait_seq.load(std::memory_order_relaxed) == e.seq)
                        wake(f, wake_reason::ready);
                    break;
                case remote_kind::cancel:
                    // A fiber that moved meanwhile sees cancel_requested at
                    // its next blocking call on its new worker.
                    if (f->owner.load(std::memory_order_relaxed) == this) interrupt(f);
                    break;
                case remote_kind::release: to_release_.push_back(f); break;
            }
        }
        remote_.clear();
    }
    for (fiber* f : to_release_) release(f);  // release() purges: it takes the lock itself
    to_release_.clear();
}

void worker::purge_remote(fiber* f) noexcept {
    auto purge = [f](worker* w) {
        if (!w->remote_pending_.load(std::memory_order_acquire)) return;
        std::lock_guard<os_mutex> lock(w->remote_mu_);
        std::erase_if(w->remote_, [f](const remote_entry& e) { return e.f == f; });
    };
    if (f->migrated && group_) {
        for (worker* w : group_->workers) purge(w);
    } else {
        purge(this);
    }
}

void worker::drain_after_exit() noexcept { drain_remote(); }

void worker::notify() noexcept {
    std::lock_guard<os_mutex> lock(remote_mu_);
    remote_pending_.store(true, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst)) reactor_->wake();
}

void worker::check_group_stop(std::int64_t now) noexcept {
    if (canceling_all_ || now < group_->cancel_at_ns.load(std::memory_order_acquire)) return;
    canceling_all_ = true;
    for (fiber* f = all_; f; f = f->all_next) cancel(f);
    // Unstarted ones fail their first blocking call; a thief that takes one
    // later marks it itself (canceling_all_ is set on every worker by then,
    // or will be at its next pass).
    std::lock_guard<spinlock> lock(fresh_lock_);
    fresh_.for_each([](fiber* f) { f->cancel_requested.store(true, std::memory_order_relaxed); });
}

// ---- freeing and canceling from any thread --------------------------------------

void worker::free_fiber(fiber* f) noexcept {
    worker* o = f->owner.load(std::memory_order_acquire);
    worker* here = this_worker;
    if (o == here) {
        o->release(f);
    } else if (here && here->group_ && here->group_ == o->group_) {
        // A worker of the same runtime frees it itself: its owner will not
        // touch a finished fiber again, and entries naming it are purged
        // from the owner's queue (every queue, if it ever moved). The stack
        // goes home through this worker's pool. No wake-up of the owner.
        o->purge_remote(f);
        here->release_here(f);
    } else {
        o->post(remote_kind::release, f, 0);
    }
}

void worker::cancel_any(fiber* f) noexcept {
    // seq_cst with the owner load in interrupt_any: if that reads an owner
    // the fiber has left, its new worker's next begin_blocking sees the flag.
    f->cancel_requested.store(true, std::memory_order_seq_cst);
    interrupt_any(f);
}

void worker::interrupt_any(fiber* f) noexcept {
    if (f->join_state.load(std::memory_order_acquire) == join_done) return;
    worker* o = f->owner.load(std::memory_order_seq_cst);
    if (o == this_worker) o->interrupt(f);
    else o->post(remote_kind::cancel, f, 0);
}

// ---- stealing and idling -------------------------------------------------------

void worker::give_work(worker* thief) noexcept {
    // Unstarted fibers are taken by the thief itself (steal()); what an idle
    // worker can only be given is every other migratable fiber that yielded,
    // among the first few of the run queue.
    fiber* given = nullptr;
    fiber** tail = &given;
    bool take = true;
    ready_.take_if(steal_scan_limit, [&](fiber* f) {
        if (!stealable(f)) return false;
        const bool t = take;
        take = !take;
        return t;
    }, [&](fiber* f) {
        unlink_given(f, thief);
        *tail = f;
        tail = &f->next;
        *tail = nullptr;
    });
    if (!given) return;  // nothing to give yet: the request stays for the next pass
    worker* expected = thief;
    thief_.compare_exchange_strong(expected, nullptr, std::memory_order_relaxed);
    thief->post_batch(given);
}

bool worker::steal(const unsigned* before) noexcept {
    const std::size_t n = group_->workers.size();
    for (std::size_t k = 1; k < n; ++k) {
        worker* v = group_->workers[(index_ + k) % n];
        const std::size_t queued = v->fresh_count_.load(std::memory_order_relaxed);
        if (queued == 0) continue;
        fiber* got;
        {
            // Not a fiber its spawner is about to run: fibers that talk to
            // each other (a producer and its consumers) stay together unless
            // their worker cannot get to them.
            std::lock_guard<spinlock> lock(v->fresh_lock_);
            const fiber* front = v->fresh_.front();
            if (!front) continue;
            const unsigned now = v->ticks_.load(std::memory_order_relaxed);
            const std::size_t vi = (index_ + k) % n;
            const bool stuck = before && vi < steal_track && now == before[vi];
            if (!stuck && v->fresh_.size() < steal_queue && now - front->queued_tick < steal_after) continue;
            // Half, the oldest first; a lone fiber too: its worker is busy.
            got = v->fresh_.take_front((v->fresh_.size() + 1) / 2);
            v->fresh_count_.store(v->fresh_.size(), std::memory_order_relaxed);
        }
        if (!got) continue;
        {
            std::lock_guard<spinlock> lock(fresh_lock_);
            for (fiber* f = got; f;) {
                fiber* next = f->next;
                // Nothing of v names an unstarted fiber but its queue: only
                // remote entries, which check the owner (or are purged on free).
                f->owner.store(this, std::memory_order_release);
                f->migrated = true;
                if (canceling_all_) f->cancel_requested.store(true, std::memory_order_relaxed);
                f->queued_at = ++queue_clock_;
                fresh_.push(f);
                f = next;
            }
            fresh_count_.store(fresh_.size(), std::memory_order_relaxed);
        }
        return true;
    }
    return false;
}

void worker::unlink_given(fiber* f, worker* thief) noexcept {
    --live_;
    if (f->all_prev) f->all_prev->all_next = f->all_next;
    else all_ = f->all_next;
    if (f->all_next) f->all_next->all_prev = f->all_prev;
    f->all_prev = f->all_next = nullptr;
    f->owner.store(thief, std::memory_order_release);
    f->migrated = true;
}

void worker::ask_for_work() noexcept {
    for (worker* w : group_->workers) {
        if (w == this) continue;
        worker* expected = nullptr;
        w->thief_.compare_exchange_strong(expected, this, std::memory_order_relaxed);
    }
}

void worker::idle_wait(std::int64_t timeout_ns) noexcept {
    if (group_ && timeout_ns != 0) {
        ask_for_work();
        // Look for work a while before sleeping: a short spin catches the
        // quick replies of a ping-pong, and takes fresh fibers of busy
        // workers, without the cost of sleeping in the kernel.
        group_->spinning.fetch_add(1, std::memory_order_seq_cst);
        const std::int64_t until = steady_now_ns() + group_->spin_ns;
        unsigned before[steal_track];
        const std::size_t tracked = std::min(group_->workers.size(), steal_track);
        for (std::size_t i = 0; i < tracked; ++i)
            before[i] = group_->workers[i]->ticks_.load(std::memory_order_relaxed);
        bool found = false;
        for (unsigned i = 0;; ++i) {
            if (remote_pending_.load(std::memory_order_acquire) || ((i & 15) == 0 && steal())) {
                found = true;
                break;
            }
            if ((i & 63) == 63 && steady_now_ns() >= until) {
                found = steal(before);  // a whole spin: victims that made no pass are stuck
                break;
            }
            cpu_relax();
        }
        group_->spinning.fetch_sub(1, std::memory_order_seq_cst);
        if (found) return;
    }
    sleeping_.store(true, std::memory_order_seq_cst);
    if (group_) {
        group_->sleeping.fetch_add(1, std::memory_order_seq_cst);
        // Pairs with push_fresh(): a spawner either sees this worker asleep
        // and wakes it, or its fiber is seen here.
        if (timeout_ns != 0 && steal()) {
            group_->sleeping.fetch_sub(1, std::memory_order_seq_cst);
            sleeping_.store(false, std::memory_order_relaxed);
            return;
        }
    }
    // Asleep for good unless another thread wakes us: the deadlock report's business.
    const bool deep = group_ && timeout_ns < 0 && !io_pending();
    if (deep) group_->enter_deep_idle(this);
    if (!remote_pending_.load(std::memory_order_seq_cst)) poll_io(timeout_ns);
    if (deep) group_->leave_deep_idle();
    if (group_) group_->sleeping.fetch_sub(1, std::memory_order_seq_cst);
    sleeping_.store(false, std::memory_order_relaxed);
}

}  // namespace weft::detail
