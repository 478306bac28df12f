// weft::once_flag and weft::call_once: run a function once, even when fibers
// on any worker and plain threads race to call it. Callers that arrive while
// it runs park (a plain thread blocks), never the worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>

#include "weft/detail/wait_queue.hpp"

namespace weft {

class once_flag;
template <class F, class... Args>
void call_once(once_flag& flag, F&& fn, Args&&... args);

// As with std::once_flag, the flag must outlive every call_once on it.
class once_flag {
public:
    constexpr once_flag() noexcept = default;
    once_flag(const once_flag&) = delete;
    once_flag& operator=(const once_flag&) = delete;

private:
    template <class F, class... Args>
    friend void call_once(once_flag& flag, F&& fn, Args&&... args);

    // True when the caller must run fn (then finish() or abort()); false when
    // it has already run. Parks meanwhile.
    bool begin();
    void finish() noexcept;
    void abort() noexcept;  // fn threw: the next caller (a parked one first) runs it

    enum : std::uint32_t { idle = 0, running = 1, done = 2 };
    std::atomic<std::uint32_t> state_{idle};  // changes under guard_; `done` is read without it
    detail::spinlock guard_;
    detail::wait_list waiters_;
};

// Calls fn(args...) unless a call on this flag already returned normally.
// Callers racing with a running call park until it ends; if it throws, the
// exception goes to its caller, the flag stays unset and one parked caller
// (or the next one) tries again. Waiting cannot fail: it ignores cancellation
// and deadline scopes. Calling it again on the same flag from inside fn deadlocks.
template <class F, class... Args>
void call_once(once_flag& flag, F&& fn, Args&&... args) {
    if (flag.state_.load(std::memory_order_acquire) == once_flag::done) return;
    if (!flag.begin()) return;
    try {
        std::invoke(std::forward<F>(fn), std::forward<Args>(args)...);
    } catch (...) {
        flag.abort();
        throw;
    }
    flag.finish();
}

}  // namespace weft
