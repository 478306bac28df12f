// The offload pool: a few plain threads that run blocking functions for
// fibers and end their waits (sched/wait.hpp) when done. Its queue is
// bounded: a fiber submitting to a full queue parks until a slot frees.
// A caller may give up on a job (deadline, cancel); the job is shared with
// the pool by a reference count, so the pool runs or skips it safely.
#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "common/assert.hpp"
#include "platform/os_lock.hpp"
#include "sched/thread_start.hpp"
#include "sched/wait.hpp"
#include "sched/worker.hpp"
#include "weft/offload.hpp"

namespace weft::detail {

namespace {
os_mutex config_mu;
offload_options config;  // guarded by config_mu until the pool starts

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
    bool try_submit(offload_job* j, waiter* waiting) {
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
    // A submitter waiting for room gave up (deadline, cancel): unlist it.
    void forget_submitter(waiter* w) {
        std::lock_guard<os_mutex> lock(mu_);
        submitters_.remove(w);
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
            for (unsigned i = 0; i < n; ++i)
                threads_.push_back(start_thread(thread_role::offload, i, [this] { run(); }));
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
            offload_job* j;
            wake_target room{};
            bool has_room = false;
            {
                std::unique_lock<os_mutex> lock(mu_);
                ++idle_;
                cv_.wait(lock, [this] { return quit_ || !jobs_.empty(); });
                --idle_;
                if (quit_) return;  // only a pool that failed to start, before any job
                j = jobs_.front();
                jobs_.pop_front();
                // The first submitter still waiting (not timed out) retries,
                // FIFO among them.
                has_room = claim_front(submitters_, room);
            }
            if (has_room) deliver(room);
            j->lock.lock();
            const bool abandoned = j->abandoned;
            j->lock.unlock();
            if (!abandoned) j->run(j);  // one that gave up before it started is not run
            finish(j);
        }
    }
    // The job is over: wake its caller if it still waits, and let go of it.
    // The pool's reference is dropped before the wake-up, so a woken caller
    // owns the job alone; one that gave up may leave the last drop to us.
    static void finish(offload_job* j) noexcept {
        wake_target t{};
        j->lock.lock();
        waiter* w = std::exchange(j->caller, nullptr);
        const bool wake = w && claim(*w, t);
        j->lock.unlock();
        const bool last = j->refs.fetch_sub(1, std::memory_order_acq_rel) == 1;
        if (wake) deliver(t);
        if (last) j->destroy(j);
    }
    const std::size_t capacity_;
    os_mutex mu_;
    os_condvar cv_;
    std::deque<offload_job*> jobs_;
    wait_list submitters_;  // fibers waiting for room in a full queue
    unsigned idle_ = 0;               // guarded by mu_
    bool quit_ = false;               // guarded by mu_
    std::vector<std::thread> threads_;  // until every one has started
};
}  // namespace

namespace {
std::error_code to_error(wait_outcome r) noexcept {
    return std::make_error_code(r == wait_outcome::canceled ? std::errc::operation_canceled : std::errc::timed_out);
}

// The pool never got the job: drop its reference here.
void pool_never_had(offload_job* job) noexcept { job->refs.fetch_sub(1, std::memory_order_relaxed); }

// Queues job and waits for it. cancelable: the deadline, the deadline_scope
// and cancellation end the wait (and abandon the job); otherwise only the
// pool does. A full queue lists the same kind of wait for room instead
// (backpressure); then the submitter tries again.
std::error_code submit_and_wait(worker* w, offload_job* job, std::int64_t deadline_ns, bool cancelable) {
    offload_pool& pool = offload_pool::get();  // throws std::system_error
    for (;;) {
        waiter wt;
        std::int64_t d = deadline_ns;
        if (const wait_outcome pre = prepare_wait(wt, d, cancelable); pre != wait_outcome::waiting) {
            pool_never_had(job);
            return to_error(pre);
        }
        arm(wt, wait_reason::offload);
        job->caller = &wt;  // not yet visible to the pool
        const bool queued = pool.try_submit(job, &wt);
        if (!queued) {
            job->caller = nullptr;
            w->running()->waiting_on = wait_reason::offload_queue;
        }
        const wait_outcome r = block(wt, d, cancelable);
        if (r == wait_outcome::notified) {
            if (queued) return {};
            continue;  // room in the queue: try again
        }
        if (!queued) {
            pool.forget_submitter(&wt);
            pool_never_had(job);
            return to_error(r);
        }
        // Gave up on a queued job: the pool no longer wakes us, and skips it
        // if it has not started. finish() may hold the lock right now: once
        // we have it, nothing of ours is touched any more.
        job->lock.lock();
        job->caller = nullptr;
        job->abandoned = true;
        job->lock.unlock();
        return to_error(r);
    }
}

// The calling fiber's worker when the job can be waited for there; null
// when it must run on the calling thread (no fiber, or no reactor to be
// woken through: block this worker rather than fail).
worker* parking_worker() noexcept {
    worker* w = worker::current();
    if (!w || !w->on_fiber()) return nullptr;
    try {
        w->ensure_reactor();
    } catch (const std::system_error&) {
        return nullptr;
    }
    return w;
}
}  // namespace

void offload_run(void (*fn)(void*) noexcept, void* ctx) {
    worker* w = parking_worker();
    if (!w) {
        fn(ctx);  // no fiber to park: run it here
        return;
    }
    // The caller's frame holds the job and the pool cannot be asked to stop:
    // a wait only the pool ends, so the job outlives nothing it uses.
    struct frame_job : offload_job {
        void (*fn)(void*) noexcept;
        void* ctx;
    } job;
    job.fn = fn;
    job.ctx = ctx;
    job.run = [](offload_job* j) noexcept {
        auto* f = static_cast<frame_job*>(j);
        f->fn(f->ctx);
    };
    submit_and_wait(w, &job, no_deadline, /*cancelable=*/false);
}

std::error_code offload_wait(offload_job* job, std::int64_t deadline_ns) {
    worker* w = parking_worker();
    if (!w) {
        pool_never_had(job);
        if (deadline_ns != no_deadline && deadline_ns <= steady_now_ns())
            return std::make_error_code(std::errc::timed_out);
        job->run(job);  // outside a fiber: here, as before there was a pool
        return {};
    }
    try {
        return submit_and_wait(w, job, deadline_ns, /*cancelable=*/true);
    } catch (...) {
        pool_never_had(job);  // the pool could not start
        throw;
    }
}

void offload_throw(std::error_code ec) { throw std::system_error(ec, "weft::offload"); }

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

}  // namespace weft::detail
