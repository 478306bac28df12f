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
//
// Each fiber has one node (fiber::remote_bits/remote_seq/remote_next), so a
// post allocates nothing and a queue never holds a fiber twice. remote_bits
// says what was asked of the fiber (rb_wake, rb_cancel, rb_start,
// rb_release), whether the node is held (rb_queued: in some worker's stack,
// or being taken by it) and whether its fiber was freed meanwhile (rb_freed).
//
// - A poster ORs its bit in together with rb_queued. Only if rb_queued was
//   clear does it push the node, onto the owner's stack (a CAS on
//   remote_head_), and wake the owner if it sleeps. Otherwise the holder
//   sees the new bit before it lets go (below), so nothing is lost.
// - The worker takes its whole stack with one exchange (no ABA: nodes are
//   never popped one by one), reverses it into posting order and takes each
//   node: it clears the bits it handles, acts on them, looks again, and
//   lets go (rb_queued cleared by a CAS that fails if a bit came in).
// - While rb_queued is set, nobody frees the fiber: a worker that frees it
//   sets rb_freed instead, and the holder frees it when it lets go. This is
//   what keeps entries safe when a fiber is freed on another worker, with
//   no purge and no lock.
// - The node is in the queue of the worker that was the owner when it was
//   pushed. If the fiber has changed workers since (stolen before it
//   started, or a migratable fiber given away), the holder passes the node,
//   still held and with its bits, to the new owner: a wake for the fiber's
//   wait there is never dropped on the old worker.
// - A wake names the wait it is for (remote_seq keeps the newest posted):
//   it makes the fiber ready only if that wait is still the fiber's current
//   one (wait_seq), so a late wake for a wait that ended is dropped.
// - Lifetime of the poster's view of the worker: a wake is posted by
//   deliver(), whose waiter waits for `notified` before returning, so the
//   fiber (and its worker) outlives the post. Other posts count themselves
//   in foreign_posts_, which ~worker waits out.

namespace {
constexpr std::uint32_t rb_wake = 1u << 0;
constexpr std::uint32_t rb_cancel = 1u << 1;
constexpr std::uint32_t rb_start = 1u << 2;
constexpr std::uint32_t rb_release = 1u << 3;
constexpr std::uint32_t rb_kinds = rb_wake | rb_cancel | rb_start | rb_release;
constexpr std::uint32_t rb_queued = 1u << 4;
constexpr std::uint32_t rb_freed = 1u << 5;

// Counts a post that is not a waiter's wake while it may touch the worker.
struct foreign_post {
    std::atomic<unsigned>& n;
    explicit foreign_post(std::atomic<unsigned>& c) noexcept : n(c) { n.fetch_add(1, std::memory_order_seq_cst); }
    ~foreign_post() { n.fetch_sub(1, std::memory_order_release); }
    foreign_post(const foreign_post&) = delete;
    foreign_post& operator=(const foreign_post&) = delete;
};
}  // namespace

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

void worker::push_remote(fiber* first, fiber* last) noexcept {
    fiber* head = remote_head_.load(std::memory_order_relaxed);
    do {
        last->remote_next = head;
    } while (!remote_head_.compare_exchange_weak(head, first, std::memory_order_seq_cst,
                                                 std::memory_order_relaxed));
    // seq_cst pairs with idle_wait(): either it sees the node before it
    // sleeps, or this sees it sleeping and wakes it.
    if (sleeping_.load(std::memory_order_seq_cst)) reactor_->wake();
}

void worker::post(remote_kind kind, fiber* f, std::uint64_t seq) noexcept {
    std::uint32_t bit = rb_wake;
    switch (kind) {
        case remote_kind::wake: {
            // The newest wait wins; an older one is stale by then anyway.
            std::uint64_t cur = f->remote_seq.load(std::memory_order_relaxed);
            while (cur < seq && !f->remote_seq.compare_exchange_weak(cur, seq, std::memory_order_release,
                                                                     std::memory_order_relaxed)) {
            }
            break;
        }
        case remote_kind::cancel: bit = rb_cancel; break;
        case remote_kind::start: bit = rb_start; break;
        case remote_kind::release: bit = rb_release; break;
    }
    if (kind == remote_kind::wake) {
        if (!(f->remote_bits.fetch_or(bit | rb_queued, std::memory_order_acq_rel) & rb_queued)) push_remote(f, f);
        return;
    }
    foreign_post guard(foreign_posts_);
    if (!(f->remote_bits.fetch_or(bit | rb_queued, std::memory_order_acq_rel) & rb_queued)) push_remote(f, f);
}

void worker::post_batch(fiber* list) noexcept {
    // One push for the nodes that were free; a node still held elsewhere
    // (a stale wake on the old worker) is passed on to this one by its holder.
    foreign_post guard(foreign_posts_);
    fiber* first = nullptr;
    fiber* last = nullptr;
    for (fiber* f = list; f;) {
        fiber* next = f->next;
        if (!(f->remote_bits.fetch_or(rb_start | rb_queued, std::memory_order_acq_rel) & rb_queued)) {
            f->remote_next = first;
            first = f;
            if (!last) last = f;
        }
        f = next;
    }
    if (first) push_remote(first, last);
}

void worker::release(fiber* f) noexcept {
    // A node of f still held by a remote queue: its holder frees it.
    std::uint32_t b = f->remote_bits.load(std::memory_order_acquire);
    while (b & rb_queued) {
        if (f->remote_bits.compare_exchange_weak(b, b | rb_freed, std::memory_order_acq_rel,
                                                 std::memory_order_acquire))
            return;
    }
    release_here(f);
}

void worker::remote_wake(fiber* f, std::uint64_t seq) noexcept { post(remote_kind::wake, f, seq); }

void worker::start_remote(fiber* f) noexcept {
    if (group_) group_->fiber_started();
    post(remote_kind::start, f);
}

void worker::take_remote(fiber* f) noexcept {
    std::uint32_t b = f->remote_bits.load(std::memory_order_acquire);
    for (;;) {
        if (b & (rb_freed | rb_release)) {
            // Finished and let go by everyone else: whatever else was asked is moot.
            f->remote_bits.store(0, std::memory_order_relaxed);
            release_here(f);
            return;
        }
        worker* o = f->owner.load(std::memory_order_acquire);
        if (o != this) {  // moved since: the new owner takes the node, held, bits and all
            o->push_remote(f, f);
            return;
        }
        if (const std::uint32_t kinds = b & rb_kinds) {
            f->remote_bits.fetch_and(~kinds, std::memory_order_acq_rel);
            if (kinds & rb_start) adopt(f);
            if (kinds & rb_cancel) {
                // An unstarted fiber may be stolen meanwhile (steal() moves
                // it under fresh_lock_): then its new worker sees
                // cancel_requested at its first blocking call. A started
                // one moves only by this thread's give_work().
                std::lock_guard<spinlock> lock(fresh_lock_);
                if (f->owner.load(std::memory_order_relaxed) == this) interrupt(f);
            }
            if ((kinds & rb_wake) &&
                f->wait_seq.load(std::memory_order_relaxed) == f->remote_seq.load(std::memory_order_acquire))
                wake(f, wake_reason::ready);
            b = f->remote_bits.load(std::memory_order_acquire);
            continue;
        }
        if (f->remote_bits.compare_exchange_weak(b, 0, std::memory_order_acq_rel, std::memory_order_acquire))
            return;  // let go; b holds what came in meanwhile, taken on the next turn
    }
}

void worker::drain_remote() noexcept {
    if (remote_head_.load(std::memory_order_acquire) == nullptr) {
        if (!notified_.load(std::memory_order_relaxed)) return;
        notified_.store(false, std::memory_order_relaxed);
        return;
    }
    notified_.store(false, std::memory_order_relaxed);
    fiber* lifo = remote_head_.exchange(nullptr, std::memory_order_acq_rel);
    fiber* fifo = nullptr;
    while (lifo) {  // still held: no poster touches remote_next
        fiber* next = lifo->remote_next;
        lifo->remote_next = fifo;
        fifo = lifo;
        lifo = next;
    }
    while (fifo) {
        fiber* next = fifo->remote_next;  // before take_remote lets the node go
        take_remote(fifo);
        fifo = next;
    }
}

bool worker::drain_after_exit() noexcept {
    const bool any = remote_head_.load(std::memory_order_acquire) != nullptr;
    drain_remote();
    return any;
}

void worker::notify() noexcept {
    foreign_post guard(foreign_posts_);
    // Already set: the worker has not drained since, so it either has not
    // slept (and will not, with notified_ set) or was woken by whoever set
    // it. A burst of spawns for a sleeping worker costs one wake-up.
    if (notified_.exchange(true, std::memory_order_seq_cst)) return;
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
        // touch a finished fiber again, and a node of it still held by a
        // queue is freed by its holder (release()). The stack goes home
        // through this worker's pool. No wake-up of the owner.
        here->release(f);
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

bool worker::steal(const unsigned* before, bool backlog_only) noexcept {
    const std::size_t n = group_->workers.size();
    for (std::size_t k = 1; k < n; ++k) {
        worker* v = group_->workers[(index_ + k) % n];
        const std::size_t queued = v->fresh_count_.load(std::memory_order_relaxed);
        if (queued == 0 || (backlog_only && queued < steal_queue)) continue;
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
            if (backlog_only ? v->fresh_.size() < steal_queue
                             : !stuck && v->fresh_.size() < steal_queue && now - front->queued_tick < steal_after)
                continue;
            // Half, the oldest first; a lone fiber too: its worker is busy.
            got = v->fresh_.take_front((v->fresh_.size() + 1) / 2);
            v->fresh_count_.store(v->fresh_.size(), std::memory_order_relaxed);
        }
        if (!got) continue;
        {
            std::lock_guard<spinlock> lock(fresh_lock_);
            for (fiber* f = got; f;) {
                fiber* next = f->next;
                // Nothing of v names an unstarted fiber but its queue and
                // maybe a held remote node, which follows the owner.
                f->owner.store(this, std::memory_order_release);
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
}

void worker::ask_for_work() noexcept {
    for (worker* w : group_->workers) {
        if (w == this) continue;
        worker* expected = nullptr;
        w->thief_.compare_exchange_strong(expected, this, std::memory_order_relaxed);
    }
}

bool worker::start_spinning() noexcept {
    const auto n = static_cast<unsigned>(group_->workers.size());
    unsigned s = group_->spinning.load(std::memory_order_relaxed);
    do {
        if (!spin_allowed(s, group_->sleeping.load(std::memory_order_relaxed), n, group_->spin_cap,
                          remote_waiters_ > 0))
            return false;
    } while (!group_->spinning.compare_exchange_weak(s, s + 1, std::memory_order_seq_cst,
                                                     std::memory_order_relaxed));
    return true;
}

void worker::idle_wait(std::int64_t timeout_ns) noexcept {
    if (group_ && timeout_ns != 0) {
        // Requests the fibers just queued in the ring go to the kernel now,
        // not after the spin, and I/O already done is taken first.
        if (io_pending()) {
            poll_io(0);
            if (runnable()) return;
        }
        ask_for_work();
    }
    if (group_ && timeout_ns != 0 && start_spinning()) {
        // Look for work a while before sleeping: a short spin catches the
        // quick replies of a ping-pong, and takes fresh fibers of busy
        // workers, without the cost of sleeping in the kernel.
        const std::int64_t until = steady_now_ns() + group_->spin_ns;
        unsigned before[steal_track];
        const std::size_t tracked = std::min(group_->workers.size(), steal_track);
        for (std::size_t i = 0; i < tracked; ++i)
            before[i] = group_->workers[i]->ticks_.load(std::memory_order_relaxed);
        bool found = false, stole = false;
        for (unsigned i = 0;; ++i) {
            if (remote_head_.load(std::memory_order_acquire) || notified_.load(std::memory_order_relaxed)) {
                found = true;
                break;
            }
            if ((i & 15) == 0 && steal()) {
                found = stole = true;
                break;
            }
            // Go's spinning Ms look at the network too: I/O done meanwhile.
            if ((i & 255) == 255 && io_pending()) {
                poll_io(0);
                if (runnable()) {
                    found = true;
                    break;
                }
            }
            if ((i & 63) == 63 && steady_now_ns() >= until) {
                found = stole = steal(before);  // a whole spin: victims that made no pass are stuck
                break;
            }
            cpu_relax();
        }
        group_->spinning.fetch_sub(1, std::memory_order_seq_cst);
        // Go's resetspinning: where there was work to take there may be
        // more, and this worker stops looking: a sleeper comes to look.
        if (stole) wake_idle_worker();
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
    if (!remote_pending()) poll_io(timeout_ns);
    if (deep) group_->leave_deep_idle();
    if (group_) group_->sleeping.fetch_sub(1, std::memory_order_seq_cst);
    sleeping_.store(false, std::memory_order_relaxed);
}

}  // namespace weft::detail
