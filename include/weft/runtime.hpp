// weft::runtime: N workers, one OS thread each, running fibers with the same
// blocking-style code as weft::run. Fibers start on the worker that spawned
// them; idle workers take fibers that have not started yet.
#pragma once

#include <chrono>
#include <thread>
#include <vector>

#include "weft/fiber.hpp"

namespace weft {

// How workers wait on fds (Linux; elsewhere kqueue): automatic takes
// WEFT_REACTOR=io_uring|epoll from the environment if set, else io_uring
// where weft was built with liburing and the kernel allows it, else epoll.
// io_uring asked for and unavailable: one line on stderr, then epoll.
enum class reactor_backend : unsigned char { automatic, epoll, io_uring };

struct runtime_options {
    // 0: one per CPU the process may use: the CPUs of its affinity mask
    // (sched_getaffinity), fewer where its cgroup's CPU quota allows fewer
    // (cpu.max, or cpu.cfs_quota_us on cgroup v1; 1.5 CPUs count as 2).
    // Above 1024 (or the usable CPUs where there are more): the constructor
    // throws std::invalid_argument.
    unsigned workers = 0;
    // How long an idle worker spins looking for work before it sleeps in the
    // kernel: short replies between workers then cost no wake-up syscall.
    std::chrono::microseconds idle_spin{20};
    // Opt-in watchdog: a worker that stays this long inside one fiber (a long
    // computation, a call that blocks the thread) is reported once per stall
    // on stderr: "weft: worker 1 stalled for 2000 ms in fiber 'name' #id
    // (computing)" and the fiber's backtrace (README, "Debugging").
    // Idle workers are never reported. 0: $WEFT_STALL_MS if set, else off.
    std::chrono::milliseconds stall_report{0};
    reactor_backend reactor = reactor_backend::automatic;  // see reactor_backend
};

class runtime {
public:
    // Starts the workers. Throws std::system_error if a thread or a reactor
    // cannot be created (a thread limit, no descriptors left), after ending
    // the workers already started: nothing is left behind, and a later
    // runtime may start. std::invalid_argument for too many workers.
    explicit runtime(runtime_options opts = {});
    // Cancels the fibers still running, waits for them, then ends the
    // workers. A fiber that ignores cancellation keeps this waiting.
    ~runtime();
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    unsigned workers() const noexcept;

    // Starts fn() on a fiber; any thread. From a fiber of this runtime the
    // default placement is its own worker, from elsewhere the workers in turn.
    template <class F>
    fiber_handle spawn(F&& fn, const spawn_options& opts = {}) {
        return detail::spawn_in(group_, std::forward<F>(fn), opts);
    }

    // Runs fn on a fiber and blocks the calling thread until it and every
    // other fiber of the runtime have finished; rethrows what escaped fn.
    // Not from a thread of this runtime (fatal: it would block a worker).
    template <class F>
    void run(F&& fn, const spawn_options& opts = {default_stack_size, "main"}) {
        check_outside("weft::runtime::run");
        fiber_handle main = spawn(std::forward<F>(fn), opts);
        wait_idle();
        main.join();
    }

    // Blocks the calling thread until no fiber is left. Not from a worker.
    void wait_idle();

    // Graceful stop, from any thread: stop_requested() turns true at once,
    // so servers can stop accepting and finish what they are doing; when
    // `grace` has passed, every fiber still running is canceled (its current
    // and later blocking calls fail with operation_canceled), and so is every
    // fiber spawned after that. Returns at once.
    void stop(std::chrono::nanoseconds grace = {});
    bool stop_requested() const noexcept;

    detail::worker_group* group_handle() const noexcept { return group_; }  // for weft's own layers

private:
    void check_outside(const char* what) const;
    void end_workers() noexcept;  // every worker idle or about to be: stop, join, free
    detail::worker_group* group_;
    std::vector<std::thread> threads_;
};

// Whether the calling fiber's runtime has been asked to stop (false under weft::run).
bool stop_requested() noexcept;

}  // namespace weft
