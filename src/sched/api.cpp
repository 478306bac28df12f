// The scheduler's public functions: spawn placement, this_fiber, deadline
// scopes, worker_index/worker_count and weft::run's scope.
#include <system_error>

#include "common/assert.hpp"
#include "sched/monitor.hpp"
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

fiber* fiber_allocate(worker_group* group, const spawn_options& opts, std::size_t fn_size,
                      std::size_t fn_align, void** fn_storage) {
    worker* cur = worker::current();
    if (!group) {
        if (!cur) fatal("weft: misuse: weft::spawn called outside weft::run or a weft::runtime");
        group = cur->group();
    }
    const bool inside = cur && cur->group() == group;
    const int n = group ? static_cast<int>(group->workers.size()) : 1;
    if (opts.worker >= n || opts.worker < any_worker)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "weft::spawn: no worker with that index");
    worker* target;
    if (!group) target = cur;  // weft::run: one worker, every placement lands on it
    else if (opts.worker >= 0) target = group->workers[static_cast<std::size_t>(opts.worker)];
    else if (opts.worker == any_worker || !inside) target = group->pick(any_worker);
    else target = cur;
    fiber* f;
    if (inside || !group) {
        f = worker::allocate(cur->stacks(), opts, fn_size, fn_align, target);
    } else {
        std::lock_guard<os_mutex> lock(group->foreign_mu);
        f = worker::allocate(*group->foreign_stacks, opts, fn_size, fn_align, target);
        f->foreign_stack = true;
    }
    f->pinned = group && opts.worker >= 0;
    // The child's outermost deadline_scope is the spawner's earliest one (deadline.hpp).
    if (opts.inherit_deadline && cur && cur->on_fiber()) f->scope_deadline = cur->running()->scope_deadline;
    *fn_storage = f->fn_storage;
    return f;
}

void fiber_abandon(fiber* f) noexcept {
    // Back to the pool it came from: it never ran and nothing names it.
    const stack s = f->stk;
    const bool foreign = f->foreign_stack;
    worker_group* g = f->owner.load(std::memory_order_relaxed)->group();
    f->~fiber();
    if (foreign) {
        std::lock_guard<os_mutex> lock(g->foreign_mu);
        g->foreign_stacks->release(s);
    } else {
        worker::current()->stacks().release(s);
    }
}

void fiber_start(fiber* f, const fiber_fn* fn) noexcept {
    f->fn = fn;
    worker* o = f->owner.load(std::memory_order_relaxed);
    if (o == worker::current()) o->start(f);
    else o->start_remote(f);
}

std::error_code sleep_until_steady_ns(std::int64_t steady_ns) {
    return require_worker("weft::this_fiber::sleep_for/sleep_until").sleep_until(steady_ns);
}

void throw_error(std::error_code ec, const char* what) { throw std::system_error(ec, what); }

run_scope::run_scope() {
    worker* w = new worker();
    try {
        register_lone(w, stall_report_from_env());  // for SIGQUIT dumps and the stall monitor
    } catch (...) {
        delete w;
        throw;
    }
}

run_scope::~run_scope() {
    unregister_lone(worker::current());
    delete worker::current();
}

void run_scope::loop() { worker::current()->loop(); }

}  // namespace detail

deadline_scope::deadline_scope(std::chrono::steady_clock::time_point until) {
    detail::worker* w = detail::worker::current();
    if (!w || !w->on_fiber()) detail::fatal("weft: misuse: weft::deadline_scope used outside a fiber");
    detail::fiber* f = w->running();
    saved_ = f->scope_deadline;
    const std::int64_t ns = detail::to_steady_ns(until);
    if (ns < f->scope_deadline) f->scope_deadline = ns;  // nested scopes keep the earliest
}

deadline_scope::~deadline_scope() { detail::worker::current()->running()->scope_deadline = saved_; }

int worker_index() noexcept {
    detail::worker* w = detail::worker::current();
    return w ? static_cast<int>(w->index()) : -1;
}

int worker_count() noexcept {
    detail::worker* w = detail::worker::current();
    if (!w) return 0;
    return w->group() ? static_cast<int>(w->group()->workers.size()) : 1;
}

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
