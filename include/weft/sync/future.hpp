// weft::promise / weft::future: a one-shot value (or exception) handed from
// one fiber or thread to another; waiting parks the fiber (or blocks a plain
// thread), never the worker. Mirrors std::promise / std::future.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <future>
#include <new>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "weft/deadline.hpp"
#include "weft/detail/wait_queue.hpp"
#include "weft/this_fiber.hpp"  // detail::throw_error

namespace weft {

namespace detail {

// The shared state: reference counted, ready once. Waiting is in libweft.
class future_state_base {
public:
    future_state_base() noexcept = default;
    future_state_base(const future_state_base&) = delete;
    future_state_base& operator=(const future_state_base&) = delete;

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    // Only the first caller may store a result; the others get false.
    bool claim_result() noexcept { return !satisfied_.exchange(true, std::memory_order_acq_rel); }
    void unclaim_result() noexcept { satisfied_.store(false, std::memory_order_release); }
    bool take_retrieval() noexcept { return !retrieved_.exchange(true, std::memory_order_acq_rel); }

    // Publishes the stored result and wakes every waiter.
    void make_ready() noexcept;
    bool is_ready() const noexcept;
    // {} once ready; timed_out / operation_canceled when the wait ends first.
    std::error_code wait_until_ns(std::int64_t deadline_ns);

    std::exception_ptr error;  // written before make_ready(), read after a wait

protected:
    virtual ~future_state_base() = default;

private:
    std::atomic<std::uint32_t> refs_{1};
    std::atomic<bool> satisfied_{false};
    std::atomic<bool> retrieved_{false};
    bool ready_ = false;  // guarded by guard_
    mutable spinlock guard_;
    wait_list waiters_;
};

template <class T>
class future_state final : public future_state_base {
public:
    std::optional<T> value;
};
template <>
class future_state<void> final : public future_state_base {};

[[noreturn]] inline void throw_future_error(std::future_errc e) { throw std::future_error(e); }

// What promise<T> and promise<void> share: the state, moves, the broken promise.
template <class T>
class promise_base {
public:
    promise_base() : state_(new future_state<T>) {}
    promise_base(promise_base&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
    promise_base& operator=(promise_base&& o) noexcept {
        if (this != &o) {
            abandon();
            state_ = std::exchange(o.state_, nullptr);
        }
        return *this;
    }
    ~promise_base() { abandon(); }
    void swap(promise_base& o) noexcept { std::swap(state_, o.state_); }

    void set_exception(std::exception_ptr p) {
        future_state<T>* s = claim();
        s->error = std::move(p);
        s->make_ready();
    }

protected:
    // The state, claimed for storing the one result.
    future_state<T>* claim() {
        if (!state_) throw_future_error(std::future_errc::no_state);
        if (!state_->claim_result()) throw_future_error(std::future_errc::promise_already_satisfied);
        return state_;
    }
    future_state<T>* state_;

private:
    void abandon() noexcept {
        if (!state_) return;
        if (state_->claim_result()) {
            state_->error = std::make_exception_ptr(std::future_error(std::future_errc::broken_promise));
            state_->make_ready();
        }
        std::exchange(state_, nullptr)->release();
    }
};

}  // namespace detail

template <class T>
class future;

// set_value / set_exception store the one result (a second throws
// std::future_error(promise_already_satisfied)); destroying a promise that
// has none stores std::future_error(broken_promise) for get() to throw.
// Any thread or fiber may set it.
template <class T>
class promise : public detail::promise_base<T> {
    static_assert(!std::is_reference_v<T>, "weft::promise<T&> is not supported");

public:
    promise() = default;
    promise(promise&&) noexcept = default;
    promise& operator=(promise&&) noexcept = default;

    // Throws std::future_error(future_already_retrieved) the second time.
    future<T> get_future();

    template <class U = T>
    void set_value(U&& v) {
        detail::future_state<T>* s = this->claim();
        try {
            s->value.emplace(std::forward<U>(v));
        } catch (...) {
            s->unclaim_result();
            throw;
        }
        s->make_ready();
    }
};

template <>
class promise<void> : public detail::promise_base<void> {
public:
    promise() = default;
    promise(promise&&) noexcept = default;
    promise& operator=(promise&&) noexcept = default;

    future<void> get_future();
    void set_value() { claim()->make_ready(); }
};

// get() parks until the result is there, then returns it (or throws the stored
// exception) and leaves the future invalid; get() on an invalid future throws
// std::future_error(no_state).
// Errors: wait(ec) sets ec to timed_out (an enclosing deadline_scope ended) or
// operation_canceled (fiber_handle::cancel); wait() and get() throw them as
// std::system_error and the future stays valid; the timed forms return false.
template <class T>
class future {
public:
    future() noexcept = default;
    future(future&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
    future& operator=(future&& o) noexcept {
        if (this != &o) {
            if (state_) state_->release();
            state_ = std::exchange(o.state_, nullptr);
        }
        return *this;
    }
    ~future() {
        if (state_) state_->release();
    }

    bool valid() const noexcept { return state_ != nullptr; }
    bool is_ready() const noexcept { return state_ && state_->is_ready(); }

    T get() {
        wait();
        struct drop {
            detail::future_state<T>* s;
            ~drop() { s->release(); }
        } d{std::exchange(state_, nullptr)};
        if (d.s->error) std::rethrow_exception(d.s->error);
        if constexpr (!std::is_void_v<T>) return std::move(*d.s->value);
    }

    void wait() {
        if (std::error_code ec = wait_until_ns(INT64_MAX)) detail::throw_error(ec, "weft::future::wait");
    }
    void wait(std::error_code& ec) { ec = wait_until_ns(INT64_MAX); }
    bool wait_until(deadline d) { return !wait_until_ns(d.steady_ns()); }
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period>& d) {
        return wait_until(deadline(d));
    }
    template <class Clock, class Duration>
    bool wait_until(const std::chrono::time_point<Clock, Duration>& tp) {
        return wait_until(deadline(tp));
    }

private:
    friend class promise<T>;
    explicit future(detail::future_state<T>* s) noexcept : state_(s) {}

    std::error_code wait_until_ns(std::int64_t deadline_ns) {
        if (!state_) detail::throw_future_error(std::future_errc::no_state);
        return state_->wait_until_ns(deadline_ns);
    }

    detail::future_state<T>* state_ = nullptr;
};

template <class T>
future<T> promise<T>::get_future() {
    if (!this->state_) detail::throw_future_error(std::future_errc::no_state);
    if (!this->state_->take_retrieval()) detail::throw_future_error(std::future_errc::future_already_retrieved);
    this->state_->add_ref();
    return future<T>(this->state_);
}

inline future<void> promise<void>::get_future() {
    if (!state_) detail::throw_future_error(std::future_errc::no_state);
    if (!state_->take_retrieval()) detail::throw_future_error(std::future_errc::future_already_retrieved);
    state_->add_ref();
    return future<void>(state_);
}

}  // namespace weft
