// The offload pool: a few plain threads that run blocking functions for
// fibers and wake them through their worker's remote queue. Its queue is
// bounded: a fiber submitting to a full queue parks until a slot frees.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "common/assert.hpp"
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
    worker* owner;
    fiber* waiter;
    std::uint64_t seq;
};

// A fiber waiting for room in a full queue.
struct submitter {
    worker* owner;
    fiber* f;
    std::uint64_t seq;
};

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
    bool try_submit(const job& j, const submitter* waiting) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (jobs_.size() >= capacity_) {
                if (waiting) submitters_.push_back(*waiting);
                return false;
            }
            jobs_.push_back(j);
        }
        cv_.notify_one();
        return true;
    }

private:
    explicit offload_pool(const offload_options& o) : capacity_(o.queue_capacity ? o.queue_capacity : 1) {
        const unsigned n = o.threads ? o.threads : 1;
        for (unsigned i = 0; i < n; ++i) std::thread([this] { run(); }).detach();
    }
    [[noreturn]] void run() {
        for (;;) {
            job j;
            std::optional<submitter> room;
            {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [this] { return !jobs_.empty(); });
                j = jobs_.front();
                jobs_.pop_front();
                if (!submitters_.empty()) {
                    room = submitters_.front();
                    submitters_.pop_front();
                }
            }
            if (room) room->owner->remote_wake(room->f, room->seq);  // it retries, FIFO among waiters
            j.fn(j.ctx);
            j.owner->remote_wake(j.waiter, j.seq);
        }
    }
    const std::size_t capacity_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<job> jobs_;
    std::deque<submitter> submitters_;
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
    fiber* self = w->running();
    offload_pool& pool = offload_pool::get();
    for (;;) {
        // Backpressure: a full queue parks the submitter until a pool thread
        // takes a job, then it tries again.
        const std::uint64_t seq = w->begin_remote_wait();
        const submitter me{w, self, seq};
        self->wait_reason = "offload";
        if (pool.try_submit(job{fn, ctx, w, self, seq}, &me)) {
            // Not cancelable, no deadline: only the pool's wake ends this park.
            while (w->park_until(no_deadline, /*cancelable=*/false) != wake_reason::ready) {
            }
            w->end_remote_wait();
            return;
        }
        self->wait_reason = "offload queue full";
        while (w->park_until(no_deadline, /*cancelable=*/false) != wake_reason::ready) {
        }
        w->end_remote_wait();
    }
}

bool configure_offload_pool(const offload_options& opts) noexcept {
    std::lock_guard<std::mutex> lock(config_mu);
    if (started) return false;
    config = opts;
    return true;
}

}  // namespace weft::detail
