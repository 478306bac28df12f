// The public fiber API (spawn, handles, this_fiber, run) on top of the worker.
#include <system_error>

#include "common/assert.hpp"
#include "sched/worker.hpp"
#include "weft/run.hpp"
#include "weft/deadline.hpp"
#include "weft/this_fiber.hpp"

namespace weft {
namespace detail {

namespace {
worker& require_worker(const char* what) {
    worker* w = worker::current();
    if (!w) fatal("weft: misuse: %s called outside weft::run", what);
    return *w;
}
}  // namespace

fiber* fiber_allocate(const spawn_options& opts, std::size_t fn_size, std::size_t fn_align,
                      void** fn_storage) {
    fiber* f = require_worker("weft::spawn").allocate(opts, fn_size, fn_align);
    *fn_storage = f->fn_storage;
    return f;
}

void fiber_abandon(fiber* f) noexcept { f->owner->abandon(f); }

void fiber_start(fiber* f, const fiber_fn* fn) noexcept {
    f->fn = fn;
    f->owner->start(f);
}

std::error_code sleep_until_steady_ns(std::int64_t steady_ns) {
    return require_worker("weft::this_fiber::sleep_for/sleep_until").sleep_until(steady_ns);
}

void throw_error(std::error_code ec, const char* what) { throw std::system_error(ec, what); }

run_scope::run_scope() { new worker(); }

run_scope::~run_scope() { delete worker::current(); }

void run_scope::loop() { worker::current()->loop(); }

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
    if (f_->state != detail::fiber_state::finished && w != f_->owner)
        detail::fatal("weft: misuse: fiber '%s' #%llu joined from another thread; fibers are "
                      "joined on the thread whose weft::run spawned them",
                      f_->name, static_cast<unsigned long long>(f_->id));
    detail::fiber* f = std::exchange(f_, nullptr);
    f->owner->join(f);
}

void fiber_handle::detach() {
    if (!f_)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "weft: detach on a fiber handle that is not joinable "
                                "(already joined, detached, or empty)");
    if (detail::worker::current() != f_->owner)
        detail::fatal("weft: misuse: fiber '%s' #%llu detached from another thread",
                      f_->name, static_cast<unsigned long long>(f_->id));
    detail::fiber* f = std::exchange(f_, nullptr);
    f->owner->detach(f);
}

void fiber_handle::cancel() {
    if (!f_)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "weft: cancel on a fiber handle that is not joinable");
    if (f_->state == detail::fiber_state::finished) return;
    if (detail::worker::current() != f_->owner)
        detail::fatal("weft: misuse: fiber '%s' #%llu canceled from another thread",
                      f_->name, static_cast<unsigned long long>(f_->id));
    f_->owner->cancel(f_);
}

fiber_id fiber_handle::id() const noexcept { return f_ ? f_->id : 0; }

std::string_view fiber_handle::name() const noexcept { return f_ ? f_->name : ""; }

deadline_scope::deadline_scope(std::chrono::steady_clock::time_point until) {
    detail::worker* w = detail::worker::current();
    if (!w || !w->on_fiber()) detail::fatal("weft: misuse: weft::deadline_scope used outside a fiber");
    detail::fiber* f = w->running();
    saved_ = f->scope_deadline;
    const std::int64_t ns = detail::to_steady_ns(until);
    if (ns < f->scope_deadline) f->scope_deadline = ns;  // nested scopes keep the earliest
}

deadline_scope::~deadline_scope() { detail::worker::current()->running()->scope_deadline = saved_; }

bool in_fiber() noexcept {
    detail::worker* w = detail::worker::current();
    return w && w->on_fiber();
}

namespace this_fiber {

void yield() { detail::require_worker("weft::this_fiber::yield").yield(); }

fiber_id id() noexcept { return in_fiber() ? detail::worker::current()->running()->id : 0; }

std::string_view name() noexcept {
    return in_fiber() ? detail::worker::current()->running()->name : "";
}

}  // namespace this_fiber
}  // namespace weft
