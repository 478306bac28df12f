// Handle semantics: join, detach and cancel from any fiber or thread. One
// word, fiber::join_state, decides who frees a fiber: the exiting worker
// swaps in join_done and finds nobody yet (the handle frees it later), a
// joiner's waiter (end that wait) or join_detached (free it there).
#include <system_error>
#include <utility>

#include "common/assert.hpp"
#include "fiber/handle.hpp"
#include "sched/wait.hpp"
#include "sched/worker.hpp"
#include "weft/fiber.hpp"
#include "weft/jfiber.hpp"

namespace weft {
namespace detail {

void fiber_wake_joiner(waiter* jw) noexcept {
    wake_target t;
    if (claim(*jw, t)) deliver(t);  // a join wait has no deadline and no cancel: always claimed
}

void fiber_join(fiber* f) {
    if (f->join_state.load(std::memory_order_acquire) != join_done) {
        worker* w = worker::current();
        if (w && !w->on_fiber())
            fatal("weft: misuse: join of unfinished fiber '%s' #%llu called outside a fiber", f->name,
                  static_cast<unsigned long long>(f->id));
        waiter jw;  // fresh: no deadline, no cancel, so prepare_wait has nothing to check
        // The deadlock report must know whether another thread may end this wait.
        const bool remote = !w || w->group() || f->owner.load(std::memory_order_acquire) != w;
        if (w && remote) w->ensure_reactor();  // a wake from another thread comes through it
        arm(jw, wait_reason::join, remote);
        std::uintptr_t expected = join_running;
        if (!f->join_state.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(&jw),
                                                   std::memory_order_acq_rel))
            fiber_wake_joiner(&jw);  // it finished meanwhile: end our own wait at once
        block(jw, no_deadline, /*cancelable=*/false);
    }
    std::exception_ptr error = std::move(f->error);
    worker::free_fiber(f);
    if (error) std::rethrow_exception(error);
}

void jfiber_uncaught(std::exception_ptr e) noexcept {
    fatal("weft: uncaught exception in a jfiber joined by its destructor: %s", exception_message(e).c_str());
}

void fiber_detach(fiber* f) noexcept {
    std::uintptr_t expected = join_running;
    if (f->join_state.compare_exchange_strong(expected, join_detached, std::memory_order_acq_rel)) return;
    worker::free_fiber(f);  // it had finished already
}

}  // namespace detail

fiber_handle& fiber_handle::operator=(fiber_handle&& o) noexcept {
    if (this != &o) {
        if (f_)
            detail::fatal("weft: misuse: a joinable fiber handle (fiber '%s' #%llu) was overwritten; "
                          "join() or detach() it first",
                          f_->name, static_cast<unsigned long long>(f_->id));
        f_ = std::exchange(o.f_, nullptr);
    }
    return *this;
}

fiber_handle::~fiber_handle() {
    if (f_)
        detail::fatal("weft: misuse: fiber handle destroyed while joinable (fiber '%s' #%llu); "
                      "join() or detach() it first",
                      f_->name, static_cast<unsigned long long>(f_->id));
}

void fiber_handle::join() {
    if (!f_)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "weft: join on a fiber handle that is not joinable "
                                "(already joined, detached, or empty)");
    detail::worker* w = detail::worker::current();
    if (w && w->running() == f_)
        throw std::system_error(std::make_error_code(std::errc::resource_deadlock_would_occur),
                                "weft: a fiber cannot join itself");
    detail::fiber_join(std::exchange(f_, nullptr));
}

void fiber_handle::detach() {
    if (!f_)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "weft: detach on a fiber handle that is not joinable "
                                "(already joined, detached, or empty)");
    detail::fiber_detach(std::exchange(f_, nullptr));
}

void fiber_handle::cancel() {
    if (!f_)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "weft: cancel on a fiber handle that is not joinable");
    detail::worker::cancel_any(f_);
}

fiber_id fiber_handle::id() const noexcept { return f_ ? f_->id : 0; }

std::string_view fiber_handle::name() const noexcept { return f_ ? f_->name : ""; }

}  // namespace weft
