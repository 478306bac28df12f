// weft::task_group: the child list, first-failure cancellation and a wait
// that cannot be cut short before every child has ended.
#include "weft/task_group.hpp"

#include <mutex>
#include <string>
#include <system_error>

#include "common/assert.hpp"
#include "sched/worker.hpp"

namespace weft {

task_group::task_group() noexcept : uncaught_at_start_(std::uncaught_exceptions()) {}

task_group::~task_group() {
    if (std::uncaught_exceptions() > uncaught_at_start_) cancel();
    wait_shielded();
    // Leaving by the body's own exception: that one wins over a child's.
    // wait() takes each failure it rethrows, so one still here was never seen.
    if (error_ && std::uncaught_exceptions() <= uncaught_at_start_)
        detail::fatal("weft: task_group destroyed without wait() after a child failed: %s",
                      detail::exception_message(error_).c_str());
}

void task_group::enter(child& c) noexcept {
    detail::worker* w = detail::worker::current();
    c.f = w->running();
    std::lock_guard<detail::spinlock> lock(guard_);
    if (canceled_ || batch_canceled_) c.f->cancel_requested.store(true, std::memory_order_relaxed);
    c.next = running_;
    if (running_) running_->prev = &c;
    running_ = &c;
}

void task_group::leave(child& c) noexcept {
    {
        std::lock_guard<detail::spinlock> lock(guard_);
        if (c.prev) c.prev->next = c.next;
        else running_ = c.next;
        if (c.next) c.next->prev = c.prev;
    }
    children_.done();  // last touch of the group
}

namespace {
bool is_cancellation(const std::exception_ptr& e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const std::system_error& se) {
        return se.code() == std::errc::operation_canceled;
    } catch (...) {
        return false;
    }
}
}  // namespace

void task_group::fail(std::exception_ptr e) noexcept {
    {
        std::lock_guard<detail::spinlock> lock(guard_);
        // A child that ends with operation_canceled because the group
        // canceled it is the cancellation working, not a failure.
        if ((canceled_ || batch_canceled_) && is_cancellation(e)) return;
        if (!error_) error_ = std::move(e);
    }
    cancel_batch();
}

void task_group::cancel() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    canceled_ = true;
    // Under the lock: a listed child cannot end (leave() takes it) meanwhile.
    for (child* c = running_; c; c = c->next) detail::worker::cancel_any(c->f);
}

void task_group::cancel_batch() noexcept {
    std::lock_guard<detail::spinlock> lock(guard_);
    batch_canceled_ = true;
    for (child* c = running_; c; c = c->next) detail::worker::cancel_any(c->f);
}

void task_group::wait_shielded() noexcept {
    // A canceled waiter, or one past its deadline_scope, must still see every
    // child end: lift both for the wait and put them back afterwards.
    detail::worker* w = detail::worker::current();
    detail::fiber* self = (w && w->on_fiber()) ? w->running() : nullptr;
    bool was_canceled = false;
    unsigned stops = 0;  // stopped stop_scopes: each one's end takes its count back
    std::int64_t scope = detail::no_deadline;
    if (self) {
        scope = std::exchange(self->scope_deadline, detail::no_deadline);
    }
    while (children_.count() > 0) {
        if (self) {
            was_canceled |= self->cancel_requested.exchange(false);
            stops += self->stops.exchange(0);
        }
        std::error_code ec;
        children_.wait(ec);
    }
    if (self) {
        self->scope_deadline = scope;
        if (stops) self->stops.fetch_add(stops);
        if (was_canceled) self->cancel_requested.store(true);
    }
}

void task_group::wait() {
    std::error_code ec;
    children_.wait(ec);
    if (ec) {
        cancel_batch();
        wait_shielded();
    }
    // Every child of the batch has ended: its failure is taken and its
    // cancellation lifted, so the group starts the next batch afresh.
    std::exception_ptr e;
    {
        std::lock_guard<detail::spinlock> lock(guard_);
        e = std::exchange(error_, nullptr);
        batch_canceled_ = false;
    }
    if (e) std::rethrow_exception(e);
    if (ec) throw std::system_error(ec, "weft::task_group::wait");
}

}  // namespace weft
