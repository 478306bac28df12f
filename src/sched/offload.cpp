// The offload pool: a few plain threads that run blocking functions for
// fibers and wake them through their worker's remote queue.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/assert.hpp"
#include "sched/worker.hpp"
#include "weft/offload.hpp"

namespace weft::detail {

namespace {
constexpr int pool_threads = 4;

struct job {
    void (*fn)(void*) noexcept;
    void* ctx;
    worker* owner;
    fiber* waiter;
    std::uint64_t seq;
};

// Never destroyed: its threads may still be inside a blocking call at exit.
class offload_pool {
public:
    static offload_pool& get() {
        static offload_pool* pool = new offload_pool();
        return *pool;
    }
    void submit(const job& j) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            jobs_.push_back(j);
        }
        cv_.notify_one();
    }

private:
    offload_pool() {
        for (int i = 0; i < pool_threads; ++i) std::thread([this] { run(); }).detach();
    }
    [[noreturn]] void run() {
        for (;;) {
            job j;
            {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [this] { return !jobs_.empty(); });
                j = jobs_.front();
                jobs_.pop_front();
            }
            j.fn(j.ctx);
            j.owner->remote_wake(j.waiter, j.seq);
        }
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<job> jobs_;
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
    const std::uint64_t seq = w->begin_remote_wait();
    fiber* self = w->running();
    self->wait_reason = "offload";
    offload_pool::get().submit(job{fn, ctx, w, self, seq});
    // Not cancelable, no deadline: only the pool's wake ends this park.
    while (w->park_until(no_deadline, /*cancelable=*/false) != wake_reason::ready) {
    }
    w->end_remote_wait();
}

}  // namespace weft::detail
