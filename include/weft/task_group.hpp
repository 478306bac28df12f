// weft::task_group: structured concurrency (a Trio nursery). Children
// spawned in the group are waited for when the group ends; the first child
// exception cancels the others and is rethrown from wait().
#pragma once

#include <exception>
#include <utility>

#include "weft/fiber.hpp"
#include "weft/sync/wait_group.hpp"

namespace weft {

// Use from a fiber (children are spawned like weft::spawn). Cancellation of
// children reaches them wherever they block: I/O, sleeps, sync waits.
//
//   weft::task_group g;
//   for (auto& c : conns) g.spawn([&c] { serve(c); });
//   g.wait();   // rethrows the first failure, after every child has ended
//
// A group is reusable: each wait() ends a batch. Once it has returned or
// thrown, the batch's failure and the cancellation it (or a canceled or
// timed-out wait) caused are gone, so the next spawns run uncanceled and the
// next wait() reports only their failures; a wait() with nothing new since
// returns normally.
class task_group {
public:
    task_group() noexcept;
    // Waits for the children (canceling them first if the group is left by
    // an exception). A child failure nobody observed through wait() is fatal.
    ~task_group();
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;

    template <class F>
    void spawn(F&& fn, const spawn_options& opts = {}) {
        children_.add(1);
        try {
            weft::spawn([this, fn = std::forward<F>(fn)]() mutable {
                child c;
                enter(c);
                try {
                    auto local = std::move(fn);  // destroyed before the group hears of the end
                    local();
                } catch (...) {
                    fail(std::current_exception());
                }
                leave(c);
            }, opts).detach();
        } catch (...) {
            children_.done();
            throw;
        }
    }

    // Waits until every child has ended, then rethrows the first exception
    // that escaped one since the last wait(). If the waiting fiber is
    // canceled, or its deadline_scope ends, the children are canceled and
    // waited for, and wait() throws operation_canceled / timed_out.
    void wait();
    // Cancels every child, now and any spawned later in this group: unlike
    // the cancellation a failure causes, this one outlasts wait().
    void cancel() noexcept;

private:
    struct child {
        detail::fiber* f = nullptr;
        child* prev = nullptr;
        child* next = nullptr;
    };
    void enter(child& c) noexcept;
    void leave(child& c) noexcept;
    void fail(std::exception_ptr e) noexcept;
    void cancel_batch() noexcept;  // the cancellation that ends with the batch
    void wait_shielded() noexcept;

    wait_group children_;
    detail::spinlock guard_;
    child* running_ = nullptr;     // guarded by guard_
    bool canceled_ = false;        // guarded by guard_; cancel(): for good
    bool batch_canceled_ = false;  // guarded by guard_; a failure or a cut wait: until wait() ends
    std::exception_ptr error_;     // guarded by guard_; the batch's first failure, until wait() takes it
    int uncaught_at_start_;
};

}  // namespace weft
