// The offload pool: a few plain threads that run blocking functions for
// fibers and end their waits (sched/wait.hpp) when done. Its queue is
// bounded: a fiber submitting to a full queue parks until a slot frees.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "common/assert.hpp"
#include "sched/wait.hpp"
#include "sched/worker.hpp"
#include "weft/offload.hpp"

namespace weft::detail {

namespace {
std::mutex config_mu;
offload_options config;  // guarded by config_mu until the pool starts
bool started = false;    // guarded by config_mu

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

// Never destroyed: its threads may still be inside a blocking call at exit.
class offload_pool {
public:
    static offload_pool& get() {
        static offload_pool* pool = [] {
            std::lock_guard<std::mutex> lock(config_mu);
            started = true;
            return new offload_pool(config);
        }();
        return *pool;
    }
    // Queues j, or returns false and lists `waiting` to be woken when a slot frees.
    bool try_submit(const job& j, waiter* waiting) {
        {
            std::lock_guard<std::mutex> lock(mu_);
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
        std::lock_guard<std::mutex> lock(mu_);
        return jobs_.empty() ? idle_ : 0;
    }

private:
    explicit offload_pool(const offload_options& o) : capacity_(o.queue_capacity ? o.queue_capacity : 1) {
        const unsigned n = o.threads ? o.threads : 1;
        for (unsigned i = 0; i < n; ++i) std::thread([this] { run(); }).detach();
    }
    [[noreturn]] void run() {
        for (;;) {
            job j;
            waiter* room = nullptr;
            {
                std::unique_lock<std::mutex> lock(mu_);
                ++idle_;
                cv_.wait(lock, [this] { return !jobs_.empty(); });
                --idle_;
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
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<job> jobs_;
    std::deque<waiter*> submitters_;  // fibers waiting for room in a full queue
    unsigned idle_ = 0;               // guarded by mu_
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
    {
        std::lock_guard<std::mutex> lock(config_mu);
        if (!started) return 0;
    }
    return offload_pool::get().idle_threads();
}

bool configure_offload_pool(const offload_options& opts) noexcept {
    std::lock_guard<std::mutex> lock(config_mu);
    if (started) return false;
    config = opts;
    return true;
}

}  // namespace weft::detail
