// weft::thread: a drop-in for std::thread whose function runs as a fiber, so a
// thread-per-connection program ports by changing the thread type (with
// weft::hook linked, its blocking libc calls park the fiber, not the thread).
#pragma once

#include <atomic>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "weft/fiber.hpp"
#include "weft/this_fiber.hpp"

namespace weft {

namespace detail {
// The runtime weft::threads created outside any fiber run on: started on
// first use with $WEFT_WORKERS workers (default: one per usable CPU), never
// stopped. A bad $WEFT_WORKERS is fatal (see runtime/worker_count.hpp).
worker_group* process_group();
// Ids for code outside fibers: the top bit set, so never equal to a fiber's.
std::uint64_t plain_thread_id() noexcept;
inline constexpr std::uint64_t plain_thread_bit = std::uint64_t{1} << 63;
// Threaded code expects deep stacks (a few KiB of locals per frame is common);
// reserving more costs only address space, since untouched pages take no memory.
inline std::atomic<std::size_t> thread_stack_size{256 * 1024};
}  // namespace detail

class thread {
public:
    // Same operations as std::thread::id: compared, ordered, hashed, printed.
    class id {
    public:
        id() noexcept = default;  // "not a thread"
        explicit id(std::uint64_t value) noexcept : v_(value) {}
        std::uint64_t value() const noexcept { return v_; }
        friend bool operator==(id, id) noexcept = default;
        friend std::strong_ordering operator<=>(id, id) noexcept = default;
        template <class CharT, class Traits>
        friend std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os, id i) {
            if (i.v_ == 0) return os << "thread::id of a non-executing thread";
            if (i.v_ & detail::plain_thread_bit) return os << "thread " << (i.v_ & ~detail::plain_thread_bit);
            return os << i.v_;  // the fiber's id, as weft::this_fiber::id() gives it
        }

    private:
        std::uint64_t v_ = 0;
    };

    thread() noexcept = default;

    // Runs std::invoke(decay-copy(f), decay-copy(args)...) on a new fiber: on
    // the calling worker from a fiber, else on the process's own runtime
    // (started on first use with $WEFT_WORKERS workers, default one per CPU it may use),
    // so a plain main() can start weft::threads as it started std::threads.
    // An exception escaping f calls std::terminate, as with std::thread.
    template <class F, class... Args,
              class = std::enable_if_t<!std::is_same_v<std::remove_cvref_t<F>, thread>>>
    explicit thread(F&& f, Args&&... args) {
        static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                      "weft::thread arguments must be invocable after conversion to rvalues");
        handle_ = detail::spawn_in(
            in_fiber() ? nullptr : detail::process_group(),
            [fn = std::decay_t<F>(std::forward<F>(f)),
             args_ = std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)]() mutable noexcept {
                std::apply(std::move(fn), std::move(args_));
            },
            // A std::thread inherits no deadline from its creator: neither does this one.
            spawn_options{.stack_size = detail::thread_stack_size.load(std::memory_order_relaxed),
                          .name = "thread",
                          .inherit_deadline = false});
    }

    thread(thread&&) noexcept = default;
    thread& operator=(thread&& o) noexcept {
        if (joinable()) std::terminate();  // as std::thread
        handle_ = std::move(o.handle_);
        return *this;
    }
    thread(const thread&) = delete;
    thread& operator=(const thread&) = delete;
    ~thread() {
        if (joinable()) std::terminate();  // as std::thread
    }

    bool joinable() const noexcept { return handle_.joinable(); }
    // Throws std::system_error: invalid_argument when not joinable,
    // resource_deadlock_would_occur when a thread joins itself.
    void join() { handle_.join(); }
    void detach() { handle_.detach(); }
    id get_id() const noexcept { return id(handle_.id()); }
    void swap(thread& o) noexcept {
        fiber_handle tmp(std::move(o.handle_));
        o.handle_ = std::move(handle_);
        handle_ = std::move(tmp);
    }
    static unsigned int hardware_concurrency() noexcept { return std::thread::hardware_concurrency(); }

    // Stack reserved for each weft::thread started afterwards (default 256 KiB;
    // only touched pages cost memory). Not part of std::thread.
    static void set_stack_size(std::size_t bytes) noexcept {
        detail::thread_stack_size.store(bytes, std::memory_order_relaxed);
    }
    static std::size_t stack_size() noexcept { return detail::thread_stack_size.load(std::memory_order_relaxed); }

private:
    fiber_handle handle_;
};

inline void swap(thread& a, thread& b) noexcept { a.swap(b); }

// std::this_thread for code that may run on a weft::thread: on a fiber these
// act on the fiber, elsewhere on the calling OS thread.
namespace this_thread {

inline thread::id get_id() noexcept {
    return in_fiber() ? thread::id(this_fiber::id()) : thread::id(detail::plain_thread_id());
}

inline void yield() noexcept {
    if (in_fiber()) {
        this_fiber::yield();
    } else {
        std::this_thread::yield();
    }
}

// Like std::this_thread: never throws on a fiber's cancellation or an
// enclosing deadline_scope; the sleep just ends early.
template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d) {
    if (in_fiber()) {
        std::error_code ec;
        this_fiber::sleep_for(d, ec);
    } else {
        std::this_thread::sleep_for(d);
    }
}

template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration>& tp) {
    if (in_fiber()) {
        std::error_code ec;
        this_fiber::sleep_until(tp, ec);
    } else {
        std::this_thread::sleep_until(tp);
    }
}

}  // namespace this_thread
}  // namespace weft

template <>
struct std::hash<weft::thread::id> {
    std::size_t operator()(weft::thread::id i) const noexcept { return std::hash<std::uint64_t>{}(i.value()); }
};
