// The offload pool: a few plain threads that run blocking functions for
// fibers and end their waits (sched/wait.hpp) when done. Its queue is
// bounded: a fiber submitting to a full queue parks until a slot frees.
#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "common/assert.hpp"
#include "platform/os_lock.hpp"
#include "sched/offload.hpp"
#include "sched/wait.hpp"
#include "sched/worker.hpp"
#include "weft/offload.hpp"

namespace weft::detail {

namespace {
os_mutex config_mu;
offload_options config;  // guarded by config_mu until the pool starts
// Test hook: the index of the pool thread whose start fails, or -1.
std::atomic<int> fail_thread_at{-1};

struct job {
    void (*fn)(void*) noexcept;
    void* ctx;
    waiter* done;  // the submitting fiber's wait, ended when fn returns
};

// Ends a wait that has no deadline and no cancel: the claim always succeeds.
void notify(waiter* w) noexcept {
    wake_target t;
    if (claim(*w, t)) deliver(t);
}

class offload_pool;
// Set once the pool has started every thread; never reset.
std::atomic<offload_pool*> the_pool{nullptr};

// Never destroyed once started: its threads may still be inside a blocking
// call at exit. A start that fails (a thread limit, no memory for a stack)
// ends the threads already made, frees everything and throws, so that a
// later call may try again (after configure_offload, say).
class offload_pool {
public:
    static offload_pool& get() {
        if (offload_pool* p = the_pool.load(std::memory_order_acquire)) return *p;
        std::lock_guard<os_mutex> lock(config_mu);
        if (offload_pool* p = the_pool.load(std::memory_order_relaxed)) return *p;
        auto pool = std::make_unique<offload_pool>(config);  // throws std::system_error
        pool->detach_all();
        offload_pool* p = pool.release();
        the_pool.store(p, std::memory_order_release);
        return *p;
    }
    // Queues j, or returns false and lists `waiting` to be woken when a slot frees.
    bool try_submit(const job& j, waiter* waiting) {
        {
            std::lock_guard<os_mutex> lock(mu_);
            if (jobs_.size() >= capacity_) {
                submitters_.push_back(waiting);
                return false;
            }
            jobs_.push_back(j);
        }
        cv_.notify_one();
        return true;
    }

    // Pool threads waiting for a job, with none queued: they cannot wake any
    // fiber until someone submits (the runtime's deadlock report counts them).
    unsigned idle_threads() {
        std::lock_guard<os_mutex> lock(mu_);
        return jobs_.empty() ? idle_ : 0;
    }

    explicit offload_pool(const offload_options& o) : capacity_(o.queue_capacity ? o.queue_capacity : 1) {
        const unsigned n = o.threads ? o.threads : 1;
        threads_.reserve(n);
        try {
            for (unsigned i = 0; i < n; ++i) {
                if (static_cast<int>(i) == fail_thread_at.load(std::memory_order_relaxed))
                    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                                            "weft: offload pool thread (test hook)");
                threads_.emplace_back([this] { run(); });
            }
        } catch (const std::system_error& e) {
            // The threads made so far wait for jobs that never come: end
            // them, so nothing outlives this half-made pool.
            {
                std::lock_guard<os_mutex> lock(mu_);
                quit_ = true;
            }
            cv_.notify_all();
            for (std::thread& t : threads_) t.join();
            throw std::system_error(e.code(), "weft::offload: cannot start the offload pool's threads");
        }
    }

private:
    void detach_all() noexcept {
        for (std::thread& t : threads_) t.detach();
        threads_.clear();
    }
    void run() {
        for (;;) {
            job j;
            waiter* room = nullptr;
            {
                std::unique_lock<os_mutex> lock(mu_);
                ++idle_;
                cv_.wait(lock, [this] { return quit_ || !jobs_.empty(); });
                --idle_;
                if (quit_) return;  // only a pool that failed to start, before any job
                j = jobs_.front();
                jobs_.pop_front();
                if (!submitters_.empty()) {
                    room = submitters_.front();
                    submitters_.pop_front();
                }
            }
            if (room) notify(room);  // it retries, FIFO among waiters
            j.fn(j.ctx);
            notify(j.done);
        }
    }
    const std::size_t capacity_;
    os_mutex mu_;
    os_condvar cv_;
    std::deque<job> jobs_;
    std::deque<waiter*> submitters_;  // fibers waiting for room in a full queue
    unsigned idle_ = 0;               // guarded by mu_
    bool quit_ = false;               // guarded by mu_
    std::vector<std::thread> threads_;  // until every one has started
};
}  // namespace

void offload_run(void (*fn)(void*) noexcept, void* ctx) {
    worker* w = worker::current();
    if (!w || !w->on_fiber()) {
        fn(ctx);  // no fiber to park: run it here
        return;
    }
    try {
        w->ensure_reactor();
    } catch (const std::system_error&) {
        fn(ctx);  // no reactor to be woken through: block this worker rather than fail
        return;
    }
    offload_pool& pool = offload_pool::get();
    for (;;) {
        // Not cancelable, no deadline: only the pool ends this wait. A full
        // queue lists the same wait for room instead (backpressure); then the
        // submitter tries again.
        waiter wt;
        std::int64_t d = no_deadline;
        prepare_wait(wt, d, /*cancelable=*/false, /*honour_scope=*/false);
        arm(wt, wait_reason::offload);
        const bool queued = pool.try_submit(job{fn, ctx, &wt}, &wt);
        if (!queued) w->running()->waiting_on = wait_reason::offload_queue;
        block(wt, no_deadline, /*cancelable=*/false);
        if (queued) return;
    }
}

unsigned offload_idle_threads() noexcept {
    offload_pool* p = the_pool.load(std::memory_order_acquire);
    return p ? p->idle_threads() : 0;
}

bool configure_offload_pool(const offload_options& opts) noexcept {
    std::lock_guard<os_mutex> lock(config_mu);
    if (the_pool.load(std::memory_order_relaxed)) return false;
    config = opts;
    return true;
}

void offload_fail_thread_start_for_test(int index) noexcept {
    fail_thread_at.store(index, std::memory_order_relaxed);
}

}  // namespace weft::detail
