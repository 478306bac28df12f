// weft::offload(fn): runs a blocking function on a small pool of helper
// threads and parks only the calling fiber until it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "weft/deadline.hpp"
#include "weft/detail/wait_queue.hpp"

namespace weft {

struct offload_options {
    unsigned threads = 4;              // blocking calls that can run at once
    std::size_t queue_capacity = 1024;  // queued calls beyond those; a full queue parks the submitter
};

namespace detail {
// One offloaded call, shared by the waiting caller and the pool: whichever
// lets go of it last frees it, so a caller that stopped waiting (deadline,
// cancel) leaves the function, its captures and its result alive until the
// pool is done with them.
struct offload_job {
    void (*run)(offload_job*) noexcept = nullptr;
    void (*destroy)(offload_job*) noexcept = nullptr;  // null: the caller owns it (offload_run)
    std::atomic<unsigned> refs{2};  // the caller and the pool
    spinlock lock;
    waiter* caller = nullptr;  // while the caller waits; null once it gave up or was woken
    bool abandoned = false;    // guarded by lock: the caller gave up; a queued job is not run
};
// Runs job(ctx) on the offload pool; returns when it has finished. Not
// cancelable: for jobs that use the caller's memory (weft::fs).
void offload_run(void (*job)(void*) noexcept, void* ctx);
// Queues job and waits until it ran (cleared code), or until deadline_ns
// (min'd with the fiber's deadline_scope) passes or the fiber is canceled:
// timed_out / operation_canceled, and the pool abandons the job (it is not
// run if it has not started). Outside a fiber the job runs on the calling
// thread. The pool's reference is dropped by the pool, or here when the job
// never reached it; the caller then drops its own (offload_release), also
// when this throws std::system_error (the pool cannot start).
std::error_code offload_wait(offload_job* job, std::int64_t deadline_ns);
inline void offload_release(offload_job* job) noexcept {
    if (job->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) job->destroy(job);
}
bool configure_offload_pool(const offload_options& opts) noexcept;
[[noreturn]] void offload_throw(std::error_code ec);

template <class Fn, class R>
struct offload_call final : offload_job {
    template <class F>
    explicit offload_call(F&& f) : fn(std::forward<F>(f)) {
        run = [](offload_job* j) noexcept {
            auto& c = *static_cast<offload_call*>(j);
            try {
                if constexpr (std::is_void_v<R>) {
                    std::invoke(c.fn);
                    c.result = true;
                } else {
                    c.result.emplace(std::invoke(c.fn));
                }
            } catch (...) {
                c.error = std::current_exception();
            }
        };
        destroy = [](offload_job* j) noexcept { delete static_cast<offload_call*>(j); };
    }
    Fn fn;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
    std::exception_ptr error;
};
}  // namespace detail

// Sizes the pool; only before it has started (false afterwards, nothing
// changes). A start that failed leaves no pool: configure and try again.
inline bool configure_offload(const offload_options& opts) noexcept {
    return detail::configure_offload_pool(opts);
}

// Returns fn's result, or rethrows its exception, in the calling fiber.
// Outside a fiber, fn simply runs on the calling thread.
//
// Deadlines and cancellation: the wait ends with std::system_error
// (timed_out) when `d` or an enclosing deadline_scope passes, and
// (operation_canceled) on fiber_handle::cancel() or a stop_scope's stop,
// as every weft blocking call does; one already due fails before anything
// is queued. A function cannot be interrupted, so the call is abandoned
// instead: if it has not started it never runs; if it runs, it runs to the
// end on its pool thread and its result (or exception) is discarded there.
// fn is moved (or copied) into the call, so what it captures by value lives
// until it returns; what it captures by reference must outlive the call
// itself, which a caller that gave up no longer waits for.
//
// The pool (4 threads and a queue of 1024 by default, see configure_offload)
// starts on first use; when its queue is full the calling fiber parks until
// there is room: backpressure, not an unbounded queue (that wait honours the
// deadline and cancellation too). When the pool cannot start its threads
// (RLIMIT_NPROC, a pid or memory limit), offload throws std::system_error
// (resource_unavailable_try_again, or the errno of the failed thread
// creation) and leaves no pool behind: a later call tries again.
template <class F>
auto offload(F&& fn, deadline d = deadline::none()) -> std::invoke_result_t<std::decay_t<F>&> {
    using Fn = std::decay_t<F>;
    using R = std::invoke_result_t<Fn&>;
    auto* call = new detail::offload_call<Fn, R>(std::forward<F>(fn));
    std::error_code ec;
    try {
        ec = detail::offload_wait(call, d.steady_ns());
    } catch (...) {
        detail::offload_release(call);
        throw;
    }
    if (ec) {
        detail::offload_release(call);
        detail::offload_throw(ec);
    }
    // It ran: the pool has let go of it, so it is ours alone.
    std::exception_ptr error = std::move(call->error);
    if constexpr (std::is_void_v<R>) {
        detail::offload_release(call);
        if (error) std::rethrow_exception(error);
    } else {
        if (error) {
            detail::offload_release(call);
            std::rethrow_exception(error);
        }
        R r = std::move(*call->result);
        detail::offload_release(call);
        return r;
    }
}

}  // namespace weft
