// stop_scope (weft/stop.hpp): a std::stop_callback that raises the fiber's
// (or thread's) count of stopped scopes and ends its current wait through
// the cancel path of the one wait primitive.
#include "weft/stop.hpp"

#include "sched/wait.hpp"
#include "sched/worker.hpp"

namespace weft {

stop_scope::stop_scope(std::stop_token st) {
    detail::worker* w = detail::worker::current();
    if (w && w->on_fiber()) {
        target_ = w->running();
        on_fiber_ = true;
    } else {
        detail::thread_stop_state& ts = detail::this_thread_stop();
        ++ts.scopes;
        target_ = &ts;
    }
    // Runs fire() right here if stop was already requested.
    if (st.stop_possible()) callback_.emplace(std::move(st), on_stop{this});
}

stop_scope::~stop_scope() {
    // Waits for a fire() running on another thread to return.
    callback_.reset();
    const bool fired = fired_.load(std::memory_order_acquire);
    if (on_fiber_) {
        if (fired) static_cast<detail::fiber*>(target_)->stops.fetch_sub(1, std::memory_order_seq_cst);
    } else {
        auto* ts = static_cast<detail::thread_stop_state*>(target_);
        if (fired) ts->stops.fetch_sub(1, std::memory_order_seq_cst);
        --ts->scopes;
    }
}

void stop_scope::fire() noexcept {
    fired_.store(true, std::memory_order_release);
    if (on_fiber_) {
        auto* f = static_cast<detail::fiber*>(target_);
        f->stops.fetch_add(1, std::memory_order_seq_cst);
        detail::worker::interrupt_any(f);
    } else {
        auto* ts = static_cast<detail::thread_stop_state*>(target_);
        ts->stops.fetch_add(1, std::memory_order_seq_cst);
        detail::interrupt_thread(*ts);
    }
}

}  // namespace weft
