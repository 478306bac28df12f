// Fibers: spawn one, then join or detach it through its handle (like std::thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

namespace weft {

// Process-wide unique, never reused; 0 means "no fiber".
using fiber_id = std::uint64_t;

// Reserved address space per stack; only the pages a fiber touches cost memory.
inline constexpr std::size_t default_stack_size = 64 * 1024;

struct spawn_options {
    std::size_t stack_size = default_stack_size;  // rounded up to pages, at least 16 KiB
    std::string_view name = {};                   // copied; at most 31 bytes are kept
};

namespace detail {
struct fiber;
struct fiber_fn {
    void (*invoke)(void*);
    void (*destroy)(void*) noexcept;
};
// Callables up to this size live on the fiber's own stack; larger ones on the heap.
inline constexpr std::size_t max_inline_callable = 1024;

// Takes a stack from the calling worker's pool and places the control block and
// room for the callable at its top. Throws std::system_error when memory runs out.
fiber* fiber_allocate(const spawn_options& opts, std::size_t fn_size, std::size_t fn_align,
                      void** fn_storage);
void fiber_abandon(fiber* f) noexcept;                    // the callable's constructor threw
void fiber_start(fiber* f, const fiber_fn* fn) noexcept;  // make it runnable

template <class Fn>
inline constexpr fiber_fn fiber_fn_for{
    [](void* p) { (*static_cast<Fn*>(p))(); },
    [](void* p) noexcept { static_cast<Fn*>(p)->~Fn(); },
};
}  // namespace detail

// Owns the right to join a fiber. Destroying or overwriting a handle that is
// still joinable is a fatal error, as with std::thread.
class fiber_handle {
public:
    fiber_handle() noexcept = default;
    explicit fiber_handle(detail::fiber* f) noexcept : f_(f) {}
    fiber_handle(fiber_handle&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
    fiber_handle& operator=(fiber_handle&& o) noexcept;
    fiber_handle(const fiber_handle&) = delete;
    fiber_handle& operator=(const fiber_handle&) = delete;
    ~fiber_handle();

    bool joinable() const noexcept { return f_ != nullptr; }
    // Waits for the fiber to finish and rethrows an exception that escaped it.
    // Throws std::system_error: invalid_argument when not joinable (joined
    // twice, detached, empty), resource_deadlock_would_occur when a fiber joins itself.
    void join();
    // The fiber runs on; its resources go back when it finishes.
    // Throws std::system_error(invalid_argument) when not joinable.
    void detach();
    // Makes the fiber's current blocking call (sleep, socket I/O) and every
    // later one fail with operation_canceled. join() is not affected.
    // No effect on a finished fiber; throws invalid_argument when not joinable.
    void cancel();
    fiber_id id() const noexcept;  // 0 when not joinable
    std::string_view name() const noexcept;

private:
    detail::fiber* f_ = nullptr;
};

// Starts fn() on a new fiber of the calling thread's worker. Must be called
// from inside weft::run (from a fiber or the run's own thread).
template <class F>
fiber_handle spawn(F&& fn, const spawn_options& opts = {}) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_invocable_v<Fn&>, "weft::spawn needs a callable taking no arguments");
    if constexpr (sizeof(Fn) > detail::max_inline_callable) {
        auto boxed = std::make_unique<Fn>(std::forward<F>(fn));
        return spawn([b = std::move(boxed)] { (*b)(); }, opts);
    } else {
        void* storage = nullptr;
        detail::fiber* f = detail::fiber_allocate(opts, sizeof(Fn), alignof(Fn), &storage);
        try {
            ::new (storage) Fn(std::forward<F>(fn));
        } catch (...) {
            detail::fiber_abandon(f);
            throw;
        }
        detail::fiber_start(f, &detail::fiber_fn_for<Fn>);
        return fiber_handle(f);
    }
}

}  // namespace weft
