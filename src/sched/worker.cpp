// The worker: fiber start and exit, direct fiber-to-fiber switching, timers,
// polling its reactor, the idle loop and the deadlock report. Wake-ups from other
// threads, stealing and freeing are in worker_remote.cpp.
#include "sched/worker.hpp"

#include <time.h>

#include <cxxabi.h>

#include <cerrno>
#include <new>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

#include "common/assert.hpp"
#include "context/context.hpp"
#include "fiber/handle.hpp"
#include "reactor/poller.hpp"
#include "sched/debug_layout.hpp"
#include "sched/overflow.hpp"
#include "sched/wait.hpp"

namespace weft::detail {

thread_local worker* this_worker __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {
// Timers are checked on the fiber-to-fiber path once per this many switches,
// so busy fibers cannot delay a due sleeper for long.
constexpr unsigned timer_check_interval = 64;
// Idle stacks beyond the pool's high-water mark go back to the kernel at most this often.
constexpr std::int64_t trim_interval_ns = 200'000'000;
}  // namespace

// A call the compiler cannot see through: code that may have resumed on
// another thread must not reuse a thread-pointer-relative address computed
// before the switch.
__attribute__((noipa)) worker* worker_uncached() noexcept { return this_worker; }

worker::worker(worker_group* group, unsigned index) : group_(group), index_(index) {
    if (this_worker)
        fatal("weft: misuse: weft::run called on a thread that is already running weft::run");
    // A runtime's workers are woken by each other from the start. First, so
    // that a reactor that cannot be made (no fds left) throws before this
    // thread holds anything the destructor would have released.
    if (group_) reactor_ = acquire_reactor();
    this_worker = this;
    // __cxa_eh_globals starts with exactly these two fields in libstdc++ and libc++abi.
    eh_globals_ = reinterpret_cast<eh_state*>(abi::__cxa_get_globals());
    main_.state = fiber_state::running;
    main_.owner = this;
    main_.started = true;
    annotate_thread(main_.annot);
    install_overflow_handler();
    debug_register(this);
}

worker::~worker() {
    // A spawn, cancel or free from another thread may still be reading this.
    for (unsigned spins = 0; foreign_posts_.load(std::memory_order_acquire) != 0; ++spins) {
        if (spins < 64) cpu_relax();
        else std::this_thread::yield();
    }
    drain_remote();  // frees of fibers joined from other threads
    for (fiber* f = all_; f; f = f->all_next)
        fatal("weft: fiber '%s' #%llu outlived weft::run", f->name,
              static_cast<unsigned long long>(f->id));
    if (this_worker == this) thread_exit();
    debug_unregister(this);
    if (reactor_) release_reactor(reactor_);
}

void worker::thread_exit() noexcept {
    remove_overflow_stack();
    this_worker = nullptr;
}

fiber* worker::allocate(stack_pool& pool, const spawn_options& opts, std::size_t fn_size,
                        std::size_t fn_align, worker* target) {
    stack s = pool.acquire(opts.stack_size);
    fiber* f = fiber_create(s, opts.name, fn_size, fn_align, &worker::fiber_entry);
    if (!f) {
        pool.release(s);
        throw std::system_error(std::make_error_code(std::errc::value_too_large),
                                "weft: the callable does not fit the fiber's stack");
    }
    f->owner.store(target, std::memory_order_relaxed);
    f->migratable = opts.migratable;
    return f;
}

void worker::list_fiber(fiber* f) noexcept {
    ++live_;
    f->all_next = all_;
    f->all_prev = nullptr;
    if (all_) all_->all_prev = f;
    all_ = f;
    f->listed = true;
}

void worker::adopt(fiber* f) noexcept {
    if (canceling_all_) f->cancel_requested.store(true, std::memory_order_relaxed);
    f->state = fiber_state::ready;
    if (!(group_ && fresh_eligible(f))) list_fiber(f);
    enqueue(f);
}

void worker::push_fresh(fiber* f) noexcept {
    std::lock_guard<spinlock> lock(fresh_lock_);
    fresh_.push(f);
    fresh_count_.store(fresh_.size(), std::memory_order_seq_cst);
}

void worker::wake_idle_worker() noexcept {
    // Go's wakep: another worker sleeps and none is looking for work: wake
    // one to come and take some. seq_cst pairs with idle_wait(): it counts
    // itself asleep, then looks at every fresh_count_ once more.
    if (group_->spinning.load(std::memory_order_seq_cst) != 0 ||
        group_->sleeping.load(std::memory_order_seq_cst) == 0)
        return;
    for (worker* w : group_->workers) {
        if (w != this && w->sleeping_.load(std::memory_order_relaxed)) {
            w->notify();
            return;
        }
    }
}

fiber* worker::dequeue_either() noexcept {
    std::lock_guard<spinlock> lock(fresh_lock_);
    fiber* a = ready_.front();
    fiber* b = fresh_.front();
    if (b && (!a || b->queued_at < a->queued_at)) {
        fresh_.pop();
        fresh_count_.store(fresh_.size(), std::memory_order_relaxed);
        return b;
    }
    return ready_.pop();
}

void worker::start(fiber* f) noexcept {
    if (group_) group_->fiber_started();
    // Read before adopt(): once queued, another worker may take and run it.
    const bool takeable = group_ && fresh_eligible(f);
    adopt(f);
    // An idle worker takes it from fresh_ if this one stays busy. (Not from
    // adopt(): a start through the remote queue already woke a worker.)
    if (takeable) wake_idle_worker();
}

void worker::schedule(fiber* f) noexcept {
    f->state = fiber_state::ready;
    f->waiting_on = wait_reason::none;
    enqueue(f);
}

void worker::wake(fiber* f, wake_reason why) noexcept {
    if (f->state != fiber_state::blocked && f->state != fiber_state::sleeping) return;
    f->wake = why;
    // The timer goes now, on the worker that armed it: a migratable fiber
    // may resume on another worker.
    if (f->timer) {
        timers_.remove(f->timer);
        f->timer = nullptr;
    }
    schedule(f);
}

void worker::fire_timers(std::int64_t now) noexcept {
    while (timer_node* t = timers_.top()) {
        if (t->deadline_ns > now) break;
        timers_.pop();
        t->waiter->timer = nullptr;
        wake(t->waiter, wake_reason::timeout);
    }
}

void worker::maintenance() noexcept {
    drain_remote();
    if (group_) {
        if (worker* t = thief_.load(std::memory_order_relaxed)) give_work(t);
        // Busy with fibers it already started, and none of its own left to
        // start: half of another worker's backlog starts here instead, so a
        // batch spawned from one fiber ends up spread even when the other
        // workers were busy when it was made (started fibers never move).
        if (fresh_count_.load(std::memory_order_relaxed) == 0) steal(nullptr, /*backlog_only=*/true);
        if (group_->stop_requested.load(std::memory_order_relaxed)) check_group_stop(steady_now_ns());
    }
    if (!timers_.empty()) fire_timers(steady_now_ns());
    if (io_pending()) poll_io(0);
}

fiber* worker::next_runnable() noexcept {
    if (tick() % timer_check_interval == 0) maintenance();
    if (fiber* f = dequeue()) return f;
    return &main_;
}

void worker::poll_io(std::int64_t timeout_ns) noexcept {
    io_event events[256];
    fd_dispatch(events, reactor_->poll(timeout_ns, events, 256));
}

void worker::switch_to(fiber* next, bool exiting) noexcept {
    fiber* prev = current_;
    next->state = fiber_state::running;
    // A parking fiber can be woken by the very maintenance pass that picks
    // the next fiber (a timer just due, a remote wake-up): then it just goes on.
    if (next == prev) return;
    current_ = next;
    prev->eh = *eh_globals_;
    *eh_globals_ = next->eh;
    annotate_leave(prev->annot, next->annot, exiting);
    void* from = switch_context(&prev->sp, next->sp, prev);
    // `this` is the worker prev left; a migratable fiber may resume on another.
    worker_uncached()->arrived(prev, static_cast<fiber*>(from));
}

// First thing in a context after a switch lands in it.
void worker::arrived(fiber* self, fiber* from) noexcept {
    annotate_arrive(self->annot, from ? &from->annot : nullptr);
    if (zombie_) {
        fiber* z = zombie_;
        zombie_ = nullptr;
        retire(z);
    }
}

void worker::fiber_entry(void* from) {
    worker* w = this_worker;
    fiber* self = w->current_;
    self->started = true;
    if (!self->listed) w->list_fiber(self);
    w->arrived(self, static_cast<fiber*>(from));
    try {
        self->fn->invoke(self->fn_storage);
    } catch (...) {
        self->error = std::current_exception();
    }
    self->fn->destroy(self->fn_storage);
    fls_destroy_all(self);
    // A migratable fiber may have moved while it ran.
    worker_uncached()->exit_current();
}

void worker::exit_current() noexcept {
    fiber* self = current_;
    zombie_ = self;
    switch_to(next_runnable(), /*exiting=*/true);
    __builtin_unreachable();
}

// Runs on the next context once an exited fiber's stack is no longer in use.
void worker::retire(fiber* f) noexcept {
    f->state = fiber_state::finished;
    --live_;
    if (f->all_prev) f->all_prev->all_next = f->all_next;
    else all_ = f->all_next;
    if (f->all_next) f->all_next->all_prev = f->all_prev;
    f->all_prev = f->all_next = nullptr;
    f->listed = false;
    if (group_) group_->fiber_finished();
    // One exchange decides: nobody has asked yet (the handle frees it
    // later), a joiner waits (wake it), or it was detached (free it here).
    const std::uintptr_t old = f->join_state.exchange(join_done, std::memory_order_acq_rel);
    if (old == join_running) return;
    if (old != join_detached) {
        fiber_wake_joiner(reinterpret_cast<waiter*>(old));
        return;
    }
    {
        if (f->error)
            fatal("weft: uncaught exception in detached fiber '%s' #%llu: %s", f->name,
                  static_cast<unsigned long long>(f->id), exception_message(f->error).c_str());
        release(f);
    }
}

void worker::release_here(fiber* f) noexcept {
    const stack s = f->stk;
    annotate_destroy(f->annot);
    f->~fiber();
    stacks_.release(s);
}

void worker::yield() {
    if (!on_fiber()) fatal("weft: misuse: weft::this_fiber::yield called outside a fiber");
    fiber* self = current_;
    if (tick() % timer_check_interval == 0) maintenance();
    fiber* next = dequeue();
    if (!next) return;
    self->state = fiber_state::ready;
    self->yielded = true;
    enqueue(self);
    switch_to(next);
    // Nothing of `this` below: a migratable fiber may now run on another worker.
    self->yielded = false;
}

void worker::park() { switch_to(next_runnable()); }

wake_reason worker::park_until(std::int64_t deadline_ns, bool cancelable) {
    fiber* self = current_;
    timer_node t;
    if (deadline_ns != no_deadline) {
        t.deadline_ns = deadline_ns;
        t.waiter = self;
        timers_.push(&t);
        self->timer = &t;
    }
    if (self->state == fiber_state::running) self->state = fiber_state::blocked;
    self->wake = wake_reason::none;
    self->cancelable_wait = cancelable;
    self->wait_since_ns = coarse_now_ns();
    park();
    self->cancelable_wait = false;
    WEFT_ASSERT(self->timer == nullptr, "a woken fiber's timer was removed by its waker");
    return self->wake;
}

std::error_code worker::begin_blocking(std::int64_t& deadline_ns) const noexcept {
    const fiber* self = current_;
    if (fiber_canceled(self)) return std::make_error_code(std::errc::operation_canceled);
    if (self->scope_deadline < deadline_ns) deadline_ns = self->scope_deadline;
    if (deadline_ns != no_deadline && deadline_ns <= steady_now_ns())
        return std::make_error_code(std::errc::timed_out);
    return {};
}

void worker::cancel(fiber* f) noexcept {
    f->cancel_requested.store(true, std::memory_order_seq_cst);
    interrupt(f);
}

void worker::interrupt(fiber* f) noexcept {
    // Checked again here: a stop_scope may have ended since it asked.
    if (f->cancelable_wait && fiber_canceled(f)) wake(f, wake_reason::canceled);
}

std::error_code worker::sleep_until(std::int64_t deadline_ns) {
    if (!on_fiber()) fatal("weft: misuse: weft::this_fiber::sleep_for/sleep_until called outside a fiber");
    std::int64_t effective = deadline_ns;
    if (std::error_code ec = begin_blocking(effective)) {
        if (ec != std::errc::timed_out) return ec;
        if (effective == deadline_ns) {  // our own time is up: a passed deadline yields once
            yield();
            return {};
        }
        return ec;  // an enclosing scope's deadline already passed
    }
    current_->state = fiber_state::sleeping;
    // A sleep "forever" (a saturated duration) keeps a timer that never
    // fires: it is a sleep, not a deadlock.
    if (effective == no_deadline) effective = no_deadline - 1;
    switch (sleep_wait(effective, /*cancelable=*/true, wait_reason::sleep)) {
        case wait_outcome::canceled: return std::make_error_code(std::errc::operation_canceled);
        case wait_outcome::timed_out:
            if (effective < deadline_ns) return std::make_error_code(std::errc::timed_out);
            return {};
        default: return {};
    }
}

void worker::loop() {
    for (;;) {
        drain_remote();
        if (!timers_.empty()) fire_timers(steady_now_ns());
        if (fiber* f = dequeue()) {
            switch_to(f);
            continue;
        }
        if (group_ ? (live_ == 0 && group_->stopping.load(std::memory_order_acquire)) : live_ == 0)
            break;
        // Idle: stacks of other workers' pools freed here go home now.
        stacks_.send_home();
        // Also a good moment for the syscalls that give memory back, but not
        // at every short pause: a burst of spawns that keeps coming back would
        // fault the same pages in again each time.
        if (const std::int64_t now = steady_now_ns(); now - last_trim_ns_ >= trim_interval_ns) {
            stacks_.trim();
            last_trim_ns_ = now;
        }
        std::int64_t timeout = -1;
        if (timer_node* t = timers_.top()) {
            timeout = t->deadline_ns - steady_now_ns();
            if (timeout < 0) timeout = 0;
        } else if (!group_ && !io_pending() && (remote_waiters_ == 0 || process_single_threaded())) {
            // Waits on sync primitives count as wakeable from other threads,
            // unless the process has no other thread to do it.
            report_deadlock();
        }
        if (group_) {
            if (group_->stop_requested.load(std::memory_order_acquire)) {
                const std::int64_t now = steady_now_ns();
                check_group_stop(now);
                const std::int64_t at = group_->cancel_at_ns.load(std::memory_order_acquire);
                if (!canceling_all_ && (timeout < 0 || at - now < timeout)) timeout = at - now;
                if (canceling_all_ && runnable()) continue;
            }
            idle_wait(timeout);
            continue;
        }
        if (reactor_) {
            idle_wait(timeout);
            continue;
        }
        const std::int64_t until = timers_.top()->deadline_ns;
        timespec ts{static_cast<time_t>(until / 1'000'000'000), static_cast<long>(until % 1'000'000'000)};
        while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
        }
    }
}

void worker::dump(std::ostream& os) const {
    std::vector<const fiber*> fibers;
    for (fiber* f = all_; f; f = f->all_next) fibers.push_back(f);
    {
        std::lock_guard<spinlock> lock(fresh_lock_);  // not started yet, not listed yet
        fresh_.for_each([&](const fiber* f) { fibers.push_back(f); });
    }
    const std::size_t n = fibers.size();
    os << n << (n == 1 ? " fiber" : " fibers") << ":\n";
    const std::int64_t now = coarse_now_ns();
    for (const fiber* f : fibers) {
        os << "  #" << f->id << " '" << f->name << "' " << to_string(f->state);
        if (f->waiting_on != wait_reason::none) os << " on " << to_string(f->waiting_on);
        if (f->wait_fd >= 0) os << " fd " << f->wait_fd;
        if (f->state == fiber_state::blocked || f->state == fiber_state::sleeping)
            os << " for " << (now - f->wait_since_ns) / 1'000'000 << " ms";
        if (!f->started) os << " (not started)";
        os << " (stack " << f->stk.size / 1024 << " KiB)\n";
        if (f != current_) backtrace_parked(f, os);
    }
}

void worker::report_deadlock() const {
    std::ostringstream os;
    dump(os);
    fatal("weft: deadlock: all fibers are blocked\n%s", os.str().c_str());
}

fls_table& thread_fls_table();

fls_table& current_fls_table() {
    worker* w = this_worker;
    if (!w || !w->on_fiber()) return thread_fls_table();
    fiber* f = w->running();
    if (!f->fls) f->fls = new fls_table();
    return *f->fls;
}

}  // namespace weft::detail
