// A worker: one OS thread's scheduler. It owns a run queue, a timer heap and a
// stack pool, and switches directly from fiber to fiber; the thread's own
// stack runs the idle loop (wait for timers, detect deadlock).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <atomic>
#include <memory>
#include <mutex>
#include <system_error>
#include <vector>

#include "fiber/fiber.hpp"
#include "reactor/reactor.hpp"
#include "sched/run_queue.hpp"
#include "sched/timer_heap.hpp"
#include "stack/stack_pool.hpp"

namespace weft::detail {

std::int64_t steady_now_ns() noexcept;

class worker;
// initial-exec: libweft.a is built PIC, and the default TLS model for PIC
// would make every access to this a call to __tls_get_addr on the switch path.
extern thread_local worker* this_worker __attribute__((tls_model("initial-exec")));

class worker {
public:
    worker();
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    // The calling thread's worker, or nullptr outside weft::run.
    static worker* current() noexcept { return this_worker; }

    fiber* running() const noexcept { return current_; }
    bool on_fiber() const noexcept { return current_ != &main_; }

    fiber* allocate(const spawn_options& opts, std::size_t fn_size, std::size_t fn_align);
    void abandon(fiber* f) noexcept;   // never started
    void start(fiber* f) noexcept;     // counts it live and queues it

    void schedule(fiber* f) noexcept;  // make a parked fiber ready
    void yield();
    // Parks the running fiber; its state and wait_reason are already set and
    // someone will call schedule() on it.
    void park();
    // Parks the running fiber until wake() or the deadline (steady ns, or
    // no_deadline); `cancelable` lets cancel() end the wait. Returns why it woke.
    wake_reason park_until(std::int64_t deadline_ns, bool cancelable);
    // Makes f ready with a reason, if it is parked; otherwise does nothing, so
    // racing wake sources (timer, I/O, cancel) cannot queue a fiber twice.
    void wake(fiber* f, wake_reason why) noexcept;
    // The deadline and cancellation a blocking call of the running fiber must
    // honour: min(call deadline, scope deadline), or an error if it is already
    // canceled or past.
    std::error_code begin_blocking(std::int64_t& deadline_ns) const noexcept;
    void cancel(fiber* f) noexcept;
    // Sleeps until the deadline; timed_out if an enclosing deadline_scope ends
    // first, operation_canceled on cancel().
    std::error_code sleep_until(std::int64_t deadline_ns);

    // ---- I/O readiness (the reactor is created on first use) ----
    std::error_code io_register(int fd) noexcept;
    // Parks until fd is ready in that direction (after the caller saw EAGAIN).
    std::error_code io_wait(int fd, bool write, std::int64_t deadline_ns);
    // Wakes every fiber waiting on fd with bad_file_descriptor, forgets it, closes it.
    void io_close(int fd) noexcept;

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
    void join(fiber* f);     // then frees f
    void detach(fiber* f) noexcept;

    // Runs on the thread's own stack until every fiber has finished.
    void loop();

    void dump(std::ostream& os) const;
    std::size_t live_fibers() const noexcept { return live_; }
    stack_pool& stacks() noexcept { return stacks_; }

private:
    static void fiber_entry(void* from);
    [[noreturn]] void exit_current() noexcept;
    void switch_to(fiber* next, bool exiting = false) noexcept;
    void arrived(fiber* self, fiber* from) noexcept;
    void retire(fiber* f) noexcept;
    void release(fiber* f) noexcept;
    fiber* next_runnable() noexcept;
    void fire_timers(std::int64_t now) noexcept;
    void maintenance() noexcept;  // timers and non-blocking I/O poll, every few switches
    void poll_io(std::int64_t timeout_ns) noexcept;
    void drain_remote() noexcept;
    [[noreturn]] void report_deadlock() const;

    fiber main_;  // the thread's own stack
    eh_state* eh_globals_;  // this thread's C++ exception state, swapped per fiber
    fiber* current_ = &main_;
    fiber* zombie_ = nullptr;  // exited fiber whose stack the next context frees
    run_queue ready_;
    timer_heap timers_;
    stack_pool stacks_;
    fiber* all_ = nullptr;     // live fibers, for dumps and the deadlock report
    std::size_t live_ = 0;
    unsigned ticks_ = 0;

    struct fd_record {
        std::uint32_t generation = 0;
        bool registered = false;
        fiber* waiter[2] = {nullptr, nullptr};  // [0] read, [1] write
    };
    std::unique_ptr<reactor> reactor_;
    std::vector<fd_record> fds_;  // indexed by fd
    std::size_t io_waiters_ = 0;

    std::mutex remote_mu_;
    struct remote_entry {
        fiber* f;
        std::uint64_t seq;
    };
    std::vector<remote_entry> remote_;    // guarded by remote_mu_
    std::atomic<bool> remote_pending_{false};
    std::size_t remote_waiters_ = 0;      // worker thread only
};

}  // namespace weft::detail
