// weft::runtime: starts one worker thread per usable CPU (or as asked), waits
// for the fibers, stops gracefully, and ends the workers. A start that fails
// ends what it made and throws.
#include "weft/runtime.hpp"

#include <exception>
#include <latch>
#include <memory>
#include <string>
#include <system_error>

#include "common/assert.hpp"
#include "reactor/reactor.hpp"
#include "runtime/worker_count.hpp"
#include "sched/monitor.hpp"
#include "sched/thread_start.hpp"
#include "sched/worker.hpp"

namespace weft {

namespace {
// e.what() without the ": <message of its code>" that std::system_error
// appends, so that the runtime's own system_error does not say it twice.
std::string without_code_message(const std::system_error& e) {
    std::string what = e.what();
    const std::string tail = ": " + e.code().message();
    if (what.size() >= tail.size() && what.compare(what.size() - tail.size(), tail.size(), tail) == 0)
        what.resize(what.size() - tail.size());
    return what;
}
}  // namespace

runtime::runtime(runtime_options opts) {
    const unsigned n = detail::resolve_worker_count(opts.workers);  // throws before anything starts
    auto group = std::make_unique<detail::worker_group>();
    group->workers.assign(n, nullptr);
    group->spin_ns = static_cast<unsigned>(std::chrono::nanoseconds(opts.idle_spin).count());
    group->spin_cap = detail::spin_cap_for(static_cast<unsigned>(n));
    group->foreign_stacks = std::make_unique<detail::stack_pool>();
    // On the heap with the group: a worker may still be inside wait() after
    // the last arrival lets this constructor return.
    group->start_latch = std::make_unique<std::latch>(static_cast<std::ptrdiff_t>(n) + 1);
    group_ = group.get();
    threads_.reserve(n);
    // Why worker i could not start, written by its thread before it arrives
    // at the latch, read here after the latch opens.
    std::vector<std::exception_ptr> errors(n);
    unsigned started = 0;
    try {
        for (; started < n; ++started) {
            const unsigned i = started;
            threads_.push_back(detail::start_thread(detail::thread_role::worker, i, [this, i, &errors,
                                                                                     backend = opts.reactor] {
                detail::set_thread_reactor_choice(backend);  // for the worker's reactor, made here
                detail::worker* w = nullptr;
                try {
                    w = new detail::worker(group_, i);
                } catch (...) {
                    errors[i] = std::current_exception();
                    group_->start_failed.store(true, std::memory_order_relaxed);
                }
                group_->workers[i] = w;
                group_->start_latch->arrive_and_wait();  // every worker exists before any looks at the others
                // A start failed: the others leave before running anything,
                // and the constructor frees what they made.
                if (!group_->start_failed.load(std::memory_order_relaxed)) w->loop();
                if (w) w->thread_exit();
            }));
        }
    } catch (...) {
        errors[started] = std::current_exception();
        group_->start_failed.store(true, std::memory_order_relaxed);
        // Threads [started, n) never come to the latch: arrive for them.
        group_->start_latch->count_down(static_cast<std::ptrdiff_t>(n - started));
    }
    group_->start_latch->arrive_and_wait();
    if (group_->start_failed.load(std::memory_order_relaxed)) {
        for (std::thread& t : threads_) t.join();
        threads_.clear();
        for (detail::worker* w : group_->workers) delete w;  // their reactors go with them
        group_ = nullptr;  // `group` frees it
        // The lowest worker's reason; a thread that could not be made is
        // the last one tried, so it comes after any worker's own failure.
        for (unsigned i = 0; i < n; ++i) {
            if (!errors[i]) continue;
            try {
                std::rethrow_exception(errors[i]);
            } catch (const std::system_error& e) {
                throw std::system_error(e.code(), "weft::runtime: cannot start " +
                                                      std::string(i == started ? "the thread of " : "") + "worker " +
                                                      std::to_string(i) + " of " + std::to_string(n) + " (" +
                                                      without_code_message(e) + ")");
            }
        }
        WEFT_ASSERT(false, "a runtime's start failed without an error");
    }
    group.release();
    std::int64_t stall_ns = std::chrono::nanoseconds(opts.stall_report).count();
    if (stall_ns <= 0) stall_ns = detail::stall_report_from_env();
    try {
        detail::register_group(group_, stall_ns);  // for SIGQUIT dumps and the stall monitor
    } catch (...) {  // no memory for the entry: end the workers, started by now
        end_workers();
        throw;
    }
}

runtime::~runtime() {
    if (group_->live.load(std::memory_order_acquire) > 0) {
        stop();
        group_->wait_quiet();
    }
    end_workers();
}

void runtime::end_workers() noexcept {
    group_->stopping.store(true, std::memory_order_release);
    group_->wake_all();
    for (std::thread& t : threads_) t.join();
    detail::unregister_group(group_);
    // Fibers joined from outside after their worker's last look are freed here.
    // A node one worker passes to another's queue needs that one's drain too.
    for (bool any = true; any;) {
        any = false;
        for (detail::worker* w : group_->workers) any |= w->drain_after_exit();
    }
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
