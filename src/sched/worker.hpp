// A worker: one OS thread's scheduler. It owns a run queue, a timer heap and a
// stack pool, and switches directly from fiber to fiber; the thread's own
// stack runs the idle loop (wait for timers and I/O, steal, detect deadlock).
// Workers of one runtime form a worker_group; weft::run is a worker alone.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <latch>
#include <atomic>
#include <mutex>
#include <system_error>
#include <vector>

#include "fiber/fiber.hpp"
#include "platform/clock.hpp"
#include "platform/os_lock.hpp"
#include "reactor/reactor.hpp"
#include "sched/run_queue.hpp"
#include "sched/timer_heap.hpp"
#include "stack/stack_pool.hpp"
#include "weft/detail/wait_queue.hpp"

namespace weft::detail {

class worker;
struct waiter;

// Offload pool threads waiting for a job while none is queued (sched/offload.cpp).
unsigned offload_idle_threads() noexcept;

// The workers of one weft::runtime, fixed once they have all started.
struct worker_group {
    std::vector<worker*> workers;
    // Fibers started and not yet finished, on every worker and in transit
    // between them; runtime::run waits for zero.
    std::atomic<std::size_t> live{0};
    spinlock quiet_lock;
    wait_list quiet_waiters;  // threads in wait_quiet(), woken when live reaches zero
    std::atomic<bool> stopping{false};          // workers leave their loops once idle
    std::atomic<bool> start_failed{false};      // a worker could not start: the others end unstarted
    std::atomic<bool> stop_requested{false};    // runtime::stop() was called
    // When runtime::stop()'s grace ends: from then on every fiber is canceled.
    std::atomic<std::int64_t> cancel_at_ns{INT64_MAX};
    std::atomic<unsigned> next_worker{0};       // round robin for any_worker placement
    // Idle workers looking for work (spinning) and asleep in their reactor:
    // a spawn wakes a sleeper to steal when nobody is looking already.
    std::atomic<unsigned> spinning{0};
    std::atomic<unsigned> sleeping{0};
    unsigned spin_ns = 20'000;                  // idle workers spin this long before sleeping
    unsigned spin_cap = 2;                      // at most this many spin at once (spin_allowed)
    // Stacks for fibers spawned from threads that are not workers.
    os_mutex foreign_mu;
    std::unique_ptr<stack_pool> foreign_stacks;
    std::unique_ptr<std::latch> start_latch;  // the runtime's threads have all made their workers

    // The deadlock report (see enter_deep_idle): workers asleep with nothing
    // that could wake them from inside, and threads in wait_quiet().
    os_mutex idle_mu;
    unsigned deep_idle = 0;  // guarded by idle_mu
    std::atomic<unsigned> quiet_waiting{0};

    worker* pick(int placement) noexcept;  // any_worker / current_worker / an index
    void fiber_started() noexcept { live.fetch_add(1, std::memory_order_relaxed); }
    void fiber_finished() noexcept;
    void wait_quiet();  // blocks the calling thread (or fiber) until live == 0
    void wake_all() noexcept;    // every worker re-reads the group's flags
    // A worker is about to sleep with no timer, no fd waiter and nothing to
    // run. When it is the last and no thread outside the runtime could wake
    // a fiber (the process holds only the workers, threads in wait_quiet()
    // and idle offload threads), every live fiber is blocked for good:
    // report the deadlock with every worker's fibers and abort.
    void enter_deep_idle(worker* w) noexcept;
    void leave_deep_idle() noexcept;
};

// Whether an idle worker may spin, given how many already do and how many
// sleep (Go's rule for spinning Ms): spinners stay under half of the workers
// that are not asleep, so a big runtime with little work does not burn every
// idle CPU looking for it. A worker whose fibers wait for other threads
// (awaiting_replies) may spin anyway, within the cap: a reply is likely soon,
// and catching it spinning saves a sleep and a wake-up in the kernel.
constexpr bool spin_allowed(unsigned spinning, unsigned sleeping, unsigned workers, unsigned cap,
                            bool awaiting_replies) noexcept {
    if (spinning >= cap) return false;
    const unsigned awake = workers > sleeping ? workers - sleeping : 0;
    return awaiting_replies || 2 * spinning < awake;
}
inline unsigned spin_cap_for(unsigned workers) noexcept { return workers / 2 > 2 ? workers / 2 : 2; }

// initial-exec: libweft.a is built PIC, and the default TLS model for PIC
// would make every access to this a call to __tls_get_addr on the switch path.
extern thread_local worker* this_worker __attribute__((tls_model("initial-exec")));

worker* worker_uncached() noexcept;
// A frame-pointer backtrace of a parked fiber, one line per frame.
void backtrace_parked(const fiber* f, std::ostream& os);  // this_worker, read afresh after a switch

class worker {
public:
    // On the thread it will run on. group == nullptr: weft::run's lone worker.
    explicit worker(worker_group* group = nullptr, unsigned index = 0);
    ~worker();  // may run on another thread once thread_exit() ran
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    // The calling thread's worker, or nullptr outside weft::run.
    static worker* current() noexcept { return this_worker; }

    fiber* running() const noexcept { return current_; }
    bool on_fiber() const noexcept { return current_ != &main_; }

    worker_group* group() const noexcept { return group_; }
    unsigned index() const noexcept { return index_; }

    // Takes a stack from `pool` for a fiber that will run on `target`.
    static fiber* allocate(stack_pool& pool, const spawn_options& opts, std::size_t fn_size,
                           std::size_t fn_align, worker* target);
    void start(fiber* f) noexcept;     // counts it live and queues it; this thread
    // Any thread: queues a new fiber (owner == this) through the remote queue.
    void start_remote(fiber* f) noexcept;

    void schedule(fiber* f) noexcept;  // make a parked fiber ready
    void yield();
    // The park under the one wait primitive: only block() (sched/wait.cpp)
    // calls it, and block() re-checks its waiter after every return, so a
    // spurious or late wake-up is harmless. Parks the running fiber until
    // wake() or the deadline (steady ns, or no_deadline); `cancelable` lets
    // cancel() end it. Returns why it woke.
    wake_reason park_until(std::int64_t deadline_ns, bool cancelable);
    void park();  // park_until's switch away
    // Makes f ready with a reason, if it is parked; otherwise does nothing, so
    // racing wake sources (timer, I/O, cancel) cannot queue a fiber twice.
    void wake(fiber* f, wake_reason why) noexcept;
    // The deadline and cancellation a blocking call of the running fiber must
    // honour: min(call deadline, scope deadline), or an error if it is already
    // canceled or past.
    std::error_code begin_blocking(std::int64_t& deadline_ns) const noexcept;
    void cancel(fiber* f) noexcept;  // f runs on this worker; this thread
    // Ends f's current park as canceled if it may be (cancelable_wait) and
    // fiber_canceled(f) still holds; f runs on this worker; this thread.
    void interrupt(fiber* f) noexcept;
    // Sleeps until the deadline; timed_out if an enclosing deadline_scope ends
    // first, operation_canceled on cancel().
    std::error_code sleep_until(std::int64_t deadline_ns);

    // The backend fd waits of this worker's fibers register with (see
    // reactor/poller.hpp); after ensure_reactor().
    reactor* io_reactor() const noexcept { return reactor_; }

    // ---- wake-ups from other threads ----
    // The running fiber is about to park in a wait that another thread may
    // end (remote_wake): counts it so the idle loop waits instead of
    // reporting a deadlock, makes sure the reactor exists to be woken, and
    // returns the wait's sequence number. end_remote_wait() when it is over.
    void ensure_reactor();  // throws std::system_error
    std::uint64_t begin_remote_wait() noexcept;  // after ensure_reactor()
    void end_remote_wait() noexcept;
    // Any thread: makes f ready if it is still in the wait numbered seq; a
    // late wake for a wait that already ended (timed out, say) is dropped.
    void remote_wake(fiber* f, std::uint64_t seq) noexcept;
    // Frees a finished (or never started) fiber. Any thread: from another
    // one, the fiber goes back to its owner through the remote queue.
    static void free_fiber(fiber* f) noexcept;
    // Any thread: makes f's current and later blocking calls fail with
    // operation_canceled. f must not have been freed.
    static void cancel_any(fiber* f) noexcept;
    // Any thread: ends f's current cancelable park if fiber_canceled(f)
    // (a stop_scope was stopped: the caller raised f->stops first).
    static void interrupt_any(fiber* f) noexcept;

    // Runs on the thread's own stack: until every fiber has finished
    // (weft::run), or until the group stops (a runtime's worker).
    void loop();
    // The worker's thread is about to end (a runtime worker): drops the
    // thread's own state; the object lives on until the runtime ends.
    void thread_exit() noexcept;
    // After every worker thread ended: frees fibers still queued for release.
    // True if it found anything (a node it passed on may need another round).
    bool drain_after_exit() noexcept;
    void notify() noexcept;  // any thread: interrupts an idle wait

    void dump(std::ostream& os) const;
    bool remote_pending() const noexcept {
        return remote_head_.load(std::memory_order_seq_cst) != nullptr ||
               notified_.load(std::memory_order_seq_cst);
    }
    std::size_t live_fibers() const noexcept { return live_; }
    stack_pool& stacks() noexcept { return stacks_; }

    // ---- seen from another thread: the stall monitor (sched/monitor.cpp) ----
    unsigned passes() const noexcept { return ticks_.load(std::memory_order_relaxed); }
    // The running fiber, read without synchronization (sched/monitor.cpp):
    // stable only while the worker makes no pass; the main context means idle.
    const fiber* running_unsynchronized() const noexcept;
    bool is_main_context(const fiber* f) const noexcept { return f == &main_; }
    int thread_id() const noexcept { return debug_tid_; }  // the kernel's id of the worker's thread

private:
    static void fiber_entry(void* from);
    [[noreturn]] void exit_current() noexcept;
    void switch_to(fiber* next, bool exiting = false) noexcept;
    void arrived(fiber* self, fiber* from) noexcept;
    void retire(fiber* f) noexcept;
    void release(fiber* f) noexcept;
    fiber* next_runnable() noexcept;
    // The run queues. In a runtime, unstarted fibers that may change workers
    // wait in fresh_, where idle workers take half of them at once (steal());
    // everything else waits in ready_. dequeue() takes whichever was queued
    // first, so together they are one FIFO. A fresh fiber joins this
    // worker's list of live fibers (all_, live_) when it first runs.
    static bool fresh_eligible(const fiber* f) noexcept { return !f->started && !f->pinned; }
    void enqueue(fiber* f) noexcept {
        f->queued_at = ++queue_clock_;
        f->queued_tick = ticks_.load(std::memory_order_relaxed);
        if (group_ && fresh_eligible(f)) push_fresh(f);
        else ready_.push(f);
    }
    void push_fresh(fiber* f) noexcept;
    void wake_idle_worker() noexcept;  // a spawn for a sleeping worker to take
    fiber* dequeue() noexcept {
        if (fresh_count_.load(std::memory_order_relaxed) == 0) return ready_.pop();
        return dequeue_either();
    }
    fiber* dequeue_either() noexcept;
    bool runnable() const noexcept {
        return !ready_.empty() || fresh_count_.load(std::memory_order_relaxed) > 0;
    }
    void list_fiber(fiber* f) noexcept;  // into all_, counted in live_
    // An idle worker takes half of another's fresh fibers: those that waited
    // a while (steal_after passes of their worker, or a queue of steal_queue),
    // and, given the victims' passes when this worker's spin began
    // (`before`), any from a victim that made no pass since: it is stuck in
    // one fiber and cannot get to them.
    // backlog_only: a busy worker's look (maintenance()): only victims with
    // a queue of steal_queue fresh fibers at least.
    bool steal(const unsigned* before = nullptr, bool backlog_only = false) noexcept;
    static constexpr std::size_t steal_track = 64;  // workers whose passes a spin remembers
    enum class remote_kind : std::uint8_t { wake, cancel, start, release };
    void post(remote_kind kind, fiber* f, std::uint64_t seq = 0) noexcept;
    void post_batch(fiber* list) noexcept;  // `start` entries for a chain linked by next
    // Pushes nodes already marked queued (first..last linked by remote_next).
    void push_remote(fiber* first, fiber* last) noexcept;
    void take_remote(fiber* f) noexcept;    // one node of the drained stack
    void adopt(fiber* f) noexcept;          // a fiber handed to this worker
    void release_here(fiber* f) noexcept;   // frees f into this worker's pool
    void give_work(worker* thief) noexcept;
    void unlink_given(fiber* f, worker* thief) noexcept;  // leaves this worker for thief
    void ask_for_work() noexcept;
    bool start_spinning() noexcept;  // counts this worker in group_->spinning if spin_allowed
    void idle_wait(std::int64_t timeout_ns) noexcept;
    // The group's stop grace is over: cancel every fiber here, now and later.
    void check_group_stop(std::int64_t now) noexcept;
    bool canceling_all_ = false;
    void fire_timers(std::int64_t now) noexcept;
    void maintenance() noexcept;  // timers and non-blocking I/O poll, every few switches
    void poll_io(std::int64_t timeout_ns) noexcept;
    bool io_pending() const noexcept {
        return reactor_ && reactor_->waiters.load(std::memory_order_relaxed) > 0;
    }
    void drain_remote() noexcept;
    static bool stealable(const fiber* f) noexcept {
        return !f->pinned && (!f->started || (f->migratable && f->yielded));
    }
    [[noreturn]] void report_deadlock() const;

    worker_group* group_;
    unsigned index_;
    fiber main_;  // the thread's own stack
    eh_state* eh_globals_;  // this thread's C++ exception state, swapped per fiber
    fiber* current_ = &main_;
    fiber* zombie_ = nullptr;  // exited fiber whose stack the next context frees
    run_queue ready_;
    std::uint64_t queue_clock_ = 0;
    std::size_t remote_waiters_ = 0;      // worker thread only
    // What thieves read while they spin sits on cache lines of its own, so
    // their looks do not take the lines this worker writes at every switch.
    alignas(64) mutable spinlock fresh_lock_;  // guards fresh_: thieves take from it
    run_queue fresh_;
    std::atomic<std::size_t> fresh_count_{0};  // fresh_.size(), for peeks without the lock
    alignas(64) timer_heap timers_;
    stack_pool stacks_;
    fiber* all_ = nullptr;     // live fibers, for dumps and the deadlock report
    // The list of live workers debuggers read (sched/debug_layout.hpp).
    friend struct worker_debug_offsets;
    friend void debug_register(worker*) noexcept;
    friend void debug_unregister(worker*) noexcept;
    worker* debug_next_ = nullptr;
    int debug_tid_ = 0;
    std::size_t live_ = 0;
    // Scheduling passes (switches and yields). Read by thieves: a fresh
    // fiber that waited this many passes of its worker is fair game.
    std::atomic<unsigned> ticks_{0};
    unsigned tick() noexcept {
        const unsigned t = ticks_.load(std::memory_order_relaxed) + 1;
        ticks_.store(t, std::memory_order_relaxed);  // only this thread writes: no locked instruction
        return t;
    }
    std::int64_t last_trim_ns_ = 0;

    reactor* reactor_ = nullptr;  // from the process-wide pool, made on first use

    // Wake-ups, cancels, new fibers and frees from other threads: a
    // lock-free stack of fiber nodes (fiber::remote_*), taken whole by the
    // worker. The protocol is written at the top of worker_remote.cpp.
    alignas(64) std::atomic<fiber*> remote_head_{nullptr};
    std::atomic<bool> notified_{false};   // notify(): leave an idle wait, no entry
    std::atomic<bool> sleeping_{false};   // in a blocking poll: posters must wake the reactor
    // Posts from outside the worker's fibers' own waits (spawns, cancels and
    // frees from other threads) still reading this worker: ~worker waits them out.
    std::atomic<unsigned> foreign_posts_{0};
    // An idle worker of the group asking for fibers; served at the next
    // maintenance pass or spawn, by handing over unstarted fibers.
    std::atomic<worker*> thief_{nullptr};
};

}  // namespace weft::detail
