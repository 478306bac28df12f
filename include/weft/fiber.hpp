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

// Placement of a new fiber (spawn_options::worker): the spawning worker (or,
// from a thread outside the runtime, any), any worker in turn, or a worker's
// index in its runtime (pinned there: never stolen).
inline constexpr int current_worker = -1;
inline constexpr int any_worker = -2;

struct spawn_options {
    std::size_t stack_size = default_stack_size;  // rounded up to pages, at least 16 KiB
    std::string_view name = {};                   // copied; at most 31 bytes are kept
    int worker = current_worker;                  // current_worker, any_worker or an index
    // A started fiber stays on its worker, because compiled code may keep
    // thread-local addresses (errno) across a switch. A migratable fiber may
    // be moved by an idle worker at any yield(): only for code that keeps no
    // thread-local state across yields.
    bool migratable = false;
    // A fiber spawned by a fiber starts inside the spawner's effective
    // deadline (its earliest enclosing deadline_scope, see deadline.hpp):
    // work started on behalf of a call with a deadline should not outlive
    // it. False: the child starts with no deadline (a server's long-lived
    // helper spawned from inside a request, say).
    bool inherit_deadline = true;
};

namespace detail {
struct fiber;
struct worker_group;
struct fiber_fn {
    void (*invoke)(void*);
    void (*destroy)(void*) noexcept;
};
// Callables up to this size live on the fiber's own stack; larger ones on the heap.
inline constexpr std::size_t max_inline_callable = 1024;

// Takes a stack from the calling worker's pool (or, from a thread outside the
// group, the group's shared pool) and places the control block and room for
// the callable at its top. group == nullptr: the calling worker's own group.
// Throws std::system_error when memory runs out or the placement is invalid.
fiber* fiber_allocate(worker_group* group, const spawn_options& opts, std::size_t fn_size,
                      std::size_t fn_align, void** fn_storage);
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
    // From a fiber (on any worker) it parks; from a plain thread it blocks.
    // Throws std::system_error: invalid_argument when not joinable (joined
    // twice, detached, empty), resource_deadlock_would_occur when a fiber joins itself.
    void join();
    // The fiber runs on; its resources go back when it finishes.
    // Throws std::system_error(invalid_argument) when not joinable.
    void detach();
    // Makes the fiber's current blocking call (sleep, socket I/O, sync waits)
    // and every later one fail with operation_canceled. join() is not
    // affected. Any thread. No effect on a finished fiber; throws
    // invalid_argument when not joinable.
    void cancel();
    fiber_id id() const noexcept;  // 0 when not joinable
    std::string_view name() const noexcept;

private:
    detail::fiber* f_ = nullptr;
};

namespace detail {
template <class F>
fiber_handle spawn_in(worker_group* group, F&& fn, const spawn_options& opts) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_invocable_v<Fn&>, "weft::spawn needs a callable taking no arguments");
    if constexpr (sizeof(Fn) > max_inline_callable) {
        auto boxed = std::make_unique<Fn>(std::forward<F>(fn));
        return spawn_in(group, [b = std::move(boxed)] { (*b)(); }, opts);
    } else {
        void* storage = nullptr;
        fiber* f = fiber_allocate(group, opts, sizeof(Fn), alignof(Fn), &storage);
        try {
            ::new (storage) Fn(std::forward<F>(fn));
        } catch (...) {
            fiber_abandon(f);
            throw;
        }
        fiber_start(f, &fiber_fn_for<Fn>);
        return fiber_handle(f);
    }
}
}  // namespace detail

// Starts fn() on a new fiber. Must be called from inside weft::run or a
// weft::runtime (from a fiber or a worker's own thread); by default the
// fiber starts on the calling worker (an idle worker may take it before it
// starts). Throws std::system_error: out of memory, or a worker index out of range.
template <class F>
fiber_handle spawn(F&& fn, const spawn_options& opts = {}) {
    return detail::spawn_in(nullptr, std::forward<F>(fn), opts);
}

// Starts fn() on the worker with that index, pinned there.
template <class F>
fiber_handle spawn_on(int worker, F&& fn, spawn_options opts = {}) {
    opts.worker = worker;
    return detail::spawn_in(nullptr, std::forward<F>(fn), opts);
}

// The calling fiber's worker: its index in the runtime (0 under weft::run),
// and how many workers that runtime has. -1 and 0 outside weft.
int worker_index() noexcept;
int worker_count() noexcept;

}  // namespace weft
