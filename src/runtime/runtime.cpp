// weft::runtime: starts one worker thread per core (or as asked), waits for
// the fibers, stops gracefully, and ends the workers.
#include "weft/runtime.hpp"

#include <latch>
#include <system_error>

#include "common/assert.hpp"
#include "reactor/reactor.hpp"
#include "sched/monitor.hpp"
#include "sched/worker.hpp"

namespace weft {

runtime::runtime(runtime_options opts) : group_(new detail::worker_group()) {
    unsigned n = opts.workers ? opts.workers : std::thread::hardware_concurrency();
    if (n == 0) n = 1;
    group_->workers.assign(n, nullptr);
    group_->spin_ns = static_cast<unsigned>(std::chrono::nanoseconds(opts.idle_spin).count());
    group_->foreign_stacks = std::make_unique<detail::stack_pool>();
    // On the heap with the group: a worker may still be inside wait() after
    // the last arrival lets this constructor return.
    group_->start_latch = std::make_unique<std::latch>(static_cast<std::ptrdiff_t>(n) + 1);
    threads_.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
        threads_.emplace_back([this, i, backend = opts.reactor] {
            detail::set_thread_reactor_choice(backend);  // for the worker's reactor, made here
            detail::worker* w = nullptr;
            try {
                w = new detail::worker(group_, i);
            } catch (const std::exception& e) {
                detail::fatal("weft: runtime worker %u could not start: %s", i, e.what());
            }
            group_->workers[i] = w;
            group_->start_latch->arrive_and_wait();  // every worker exists before any looks at the others
            w->loop();
            w->thread_exit();
        });
    }
    group_->start_latch->arrive_and_wait();
    std::int64_t stall_ns = std::chrono::nanoseconds(opts.stall_report).count();
    if (stall_ns <= 0) stall_ns = detail::stall_report_from_env();
    detail::register_group(group_, stall_ns);  // for SIGQUIT dumps and the stall monitor
}

runtime::~runtime() {
    if (group_->live.load(std::memory_order_acquire) > 0) {
        stop();
        group_->wait_quiet();
    }
    group_->stopping.store(true, std::memory_order_release);
    group_->wake_all();
    for (std::thread& t : threads_) t.join();
    detail::unregister_group(group_);
    // Fibers joined from outside after their worker's last look are freed here.
    for (detail::worker* w : group_->workers) w->drain_after_exit();
    for (detail::worker* w : group_->workers) delete w;
    delete group_;
}

unsigned runtime::workers() const noexcept { return static_cast<unsigned>(group_->workers.size()); }

void runtime::check_outside(const char* what) const {
    detail::worker* w = detail::worker::current();
    if (w && w->group() == group_)
        detail::fatal("weft: misuse: %s called from a thread of the same runtime; it would block a worker",
                      what);
}

void runtime::wait_idle() {
    check_outside("weft::runtime::wait_idle");
    group_->wait_quiet();
}

void runtime::stop(std::chrono::nanoseconds grace) {
    const std::int64_t at = detail::deadline_after_ns(grace.count());  // saturates: max() never cancels
    std::int64_t cur = group_->cancel_at_ns.load(std::memory_order_relaxed);
    while (at < cur && !group_->cancel_at_ns.compare_exchange_weak(cur, at, std::memory_order_acq_rel)) {
    }
    group_->stop_requested.store(true, std::memory_order_release);
    group_->wake_all();
}

bool runtime::stop_requested() const noexcept {
    return group_->stop_requested.load(std::memory_order_acquire);
}

bool stop_requested() noexcept {
    detail::worker* w = detail::worker::current();
    return w && w->group() && w->group()->stop_requested.load(std::memory_order_acquire);
}

}  // namespace weft
