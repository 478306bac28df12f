// A runtime's view of its workers as a whole: quiescence (every fiber has
// ended: runtime::run and wait_idle return) and the deadlock report (every
// worker sleeps and nothing could wake a fiber). The workers call in here
// from their idle loop (sched/); the policy lives with the runtime.
#include <cstdio>
#include <sstream>

#include "common/assert.hpp"
#include "platform/process.hpp"
#include "sched/monitor.hpp"
#include "sched/wait.hpp"
#include "sched/worker.hpp"

namespace weft::detail {

void worker_group::fiber_finished() noexcept {
    if (live.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    quiet_lock.lock();
    wake_target t;
    while (claim_front(quiet_waiters, t)) {
        quiet_lock.unlock();
        deliver(t);
        quiet_lock.lock();
    }
    quiet_lock.unlock();
}

void worker_group::wait_quiet() {
    for (;;) {
        waiter w;
        std::int64_t d = no_deadline;
        prepare_wait(w, d, /*cancelable=*/false, /*honour_scope=*/false);
        quiet_lock.lock();
        if (live.load(std::memory_order_acquire) == 0) {
            quiet_lock.unlock();
            return;
        }
        arm(w, wait_reason::quiescence);
        quiet_waiters.push_back(&w);
        quiet_lock.unlock();
        quiet_waiting.fetch_add(1, std::memory_order_seq_cst);
        // A deadlock is only reported once this waiter is counted.
        for (worker* wk : workers) wk->notify();
        block(w, no_deadline, /*cancelable=*/false);
        quiet_waiting.fetch_sub(1, std::memory_order_seq_cst);
    }
}


void worker_group::enter_deep_idle(worker* w) noexcept {
    std::lock_guard<os_mutex> lock(idle_mu);
    if (++deep_idle < workers.size()) return;
    if (live.load(std::memory_order_seq_cst) == 0 || stop_requested.load(std::memory_order_seq_cst)) return;
    // Every worker sleeps (or is about to) with empty queues; only a remote
    // post (a wake, a start, a cancel) could change that, and it leaves a
    // flag, on this worker too: a post may have landed since its last look.
    // The threads are counted first: a thread that posts and then exits is
    // either still counted, or gone after its post, which the look below sees.
    (void)w;
    const unsigned threads = process_thread_count();
    const unsigned inside = static_cast<unsigned>(workers.size()) +
                            quiet_waiting.load(std::memory_order_seq_cst) + offload_idle_threads() +
                            helper_threads();
    for (worker* o : workers)
        if (o->remote_pending()) return;
    if (threads == 0 || threads > inside) return;  // some other thread may still wake a fiber
    std::ostringstream os;
    for (worker* o : workers) {
        os << "worker " << o->index() << ": ";
        o->dump(os);
    }
    fatal("weft: deadlock: all fibers are blocked\n%s", os.str().c_str());
}

void worker_group::leave_deep_idle() noexcept {
    std::lock_guard<os_mutex> lock(idle_mu);
    --deep_idle;
}

}  // namespace weft::detail
