// A worker: one OS thread's scheduler. It owns a run queue, a timer heap and a
// stack pool, and switches directly from fiber to fiber; the thread's own
// stack runs the idle loop (wait for timers, detect deadlock).
#pragma once

#include <cstdint>
#include <iosfwd>

#include "fiber/fiber.hpp"
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
    void sleep_until(std::int64_t deadline_ns);
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
    [[noreturn]] void report_deadlock() const;

    fiber main_;  // the thread's own stack
    fiber* current_ = &main_;
    fiber* zombie_ = nullptr;  // exited fiber whose stack the next context frees
    run_queue ready_;
    timer_heap timers_;
    stack_pool stacks_;
    fiber* all_ = nullptr;     // live fibers, for dumps and the deadlock report
    std::size_t live_ = 0;
    unsigned ticks_ = 0;
};

}  // namespace weft::detail
