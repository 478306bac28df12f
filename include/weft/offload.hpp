// weft::offload(fn): runs a blocking function on a small pool of helper
// threads and parks only the calling fiber until it returns.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace weft {

struct offload_options {
    unsigned threads = 4;              // blocking calls that can run at once
    std::size_t queue_capacity = 1024;  // queued calls beyond those; a full queue parks the submitter
};

namespace detail {
// Runs job(ctx) on the offload pool; returns when it has finished.
void offload_run(void (*job)(void*) noexcept, void* ctx);
bool configure_offload_pool(const offload_options& opts) noexcept;
}  // namespace detail

// Sizes the pool; only before it has started (false afterwards, nothing
// changes). A start that failed leaves no pool: configure and try again.
inline bool configure_offload(const offload_options& opts) noexcept {
    return detail::configure_offload_pool(opts);
}

// Returns fn's result, or rethrows its exception, in the calling fiber. The
// wait is not cancelable: the function cannot be interrupted, so the fiber
// waits for it. Outside a fiber, fn simply runs on the calling thread.
// The pool (4 threads and a queue of 1024 by default, see configure_offload)
// starts on first use; when its queue is full the calling fiber parks until
// there is room: backpressure, not an unbounded queue. When the pool cannot
// start its threads (RLIMIT_NPROC, a pid or memory limit), offload throws
// std::system_error (resource_unavailable_try_again, or the errno of the
// failed thread creation) and leaves no pool behind: a later call tries again.
template <class F>
auto offload(F&& fn) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    struct context {
        F& fn;
        std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
        std::exception_ptr error;
    } ctx{fn, {}, {}};
    detail::offload_run(
        [](void* p) noexcept {
            auto& c = *static_cast<context*>(p);
            try {
                if constexpr (std::is_void_v<R>) {
                    c.fn();
                    c.result = true;
                } else {
                    c.result.emplace(c.fn());
                }
            } catch (...) {
                c.error = std::current_exception();
            }
        },
        &ctx);
    if (ctx.error) std::rethrow_exception(ctx.error);
    if constexpr (!std::is_void_v<R>) return std::move(*ctx.result);
}

}  // namespace weft
