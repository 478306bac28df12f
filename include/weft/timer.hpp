// weft::timer, weft::ticker and weft::after: timers to wait on and to select
// on, with Go's time.Timer / time.Ticker / time.After as the model.
//
//   weft::timer t{200ms};
//   t.wait();                                   // true: it fired; false: stopped
//   weft::ticker tk{10ms};
//   for (int i = 0; i < 5; ++i) tk.wait();      // a tick, with how many were dropped
//   weft::select(weft::recv_case(ch, [&](std::optional<int> v) { ... }),
//                weft::recv_case(tk, [&](weft::tick t) { ... }),
//                weft::recv_case(weft::after(1s), [&](auto) { ... }));
//
// Semantics.
//   timer: armed at a deadline, it fires once the deadline has passed; it
//     then stays fired (every wait and select sees it at once) until
//     reset() arms it again or stop() disarms it. Several fibers and
//     threads may wait on one timer; all are released when it fires.
//   ticker: ticks every period, the first one a period after it starts (or
//     after reset). A tick is taken by exactly one waiter or select; a
//     receiver slower than the period is not queued a backlog: the ticks it
//     missed are dropped (as Go's ticker does), and the tick it takes counts
//     them (tick::dropped) and carries the latest due time. Ticks follow the
//     original schedule, so a slow receiver does not shift later ones.
//   after(d): a timer armed at d, for one select or wait (Go's time.After).
//
// Waiting. wait() parks a fiber (or blocks a plain thread) through a
// channel, so it honours a deadline_scope (std::errc::timed_out), cancel()
// and stop_scope (std::errc::operation_canceled) as every channel receive
// does: the plain forms throw std::system_error, the error_code forms report
// it (and return false / nullopt). A reset() or stop() made while others wait
// wakes them (through the timer's "kick" channel, which it closes and
// replaces) so they look at the new deadline: a waiter on a stopped timer
// or ticker returns false / nullopt rather than waiting for ever.
//
// Durations: zero or negative means due at once; one too long for the clock
// (duration::max()) saturates to "never" (waits then end only by reset,
// stop, a deadline_scope or cancellation). A ticker's period must be
// positive (std::system_error, invalid_argument). A timer or ticker must
// outlive every wait and select on it; neither is movable.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>

#include "weft/deadline.hpp"
#include "weft/detail/wait_queue.hpp"
#include "weft/sync/channel.hpp"
#include "weft/sync/select.hpp"

namespace weft {

// What a ticker hands out.
struct tick {
    std::chrono::steady_clock::time_point due;  // when this tick was due
    std::uint64_t dropped = 0;  // earlier ticks that were due meanwhile and nobody took
};

namespace detail {

// What timer and ticker share: the next due time and the kick channel that
// wakes their waiters when it changes. A closed kick means "look again".
class timer_core {
public:
    struct view {
        std::int64_t due_ns;  // INT64_MAX: never (stopped, or an unbounded duration)
        bool stopped;
        std::shared_ptr<channel<char>> kick;  // closed by the next reset/stop
    };
    timer_core(std::int64_t due_ns, bool stopped) noexcept : due_ns_(due_ns), stopped_(stopped) {}
    timer_core(const timer_core&) = delete;
    timer_core& operator=(const timer_core&) = delete;

    view look();  // may allocate the kick channel (std::bad_alloc)
    // Sets the state under the lock and wakes everyone waiting on the old.
    template <class Change>
    auto change(Change&& c) {
        std::shared_ptr<channel<char>> old;
        lock_.lock();
        auto r = c(due_ns_, stopped_);
        old = std::move(kick_);
        lock_.unlock();
        if (old) old->close();
        return r;
    }
    // Changes the state under the lock without waking anyone (a tick taken).
    template <class Update>
    auto update(Update&& u) {
        lock_.lock();
        auto r = u(due_ns_, stopped_);
        lock_.unlock();
        return r;
    }
    template <class Read>
    auto read(Read&& r) const {
        lock_.lock();
        auto v = r(due_ns_, stopped_);
        lock_.unlock();
        return v;
    }
    // Parks until v's due time or a kick: true to look again, false with ec
    // set when the wait failed for its own reasons (deadline_scope, cancel).
    static bool park(const view& v, std::error_code& ec);

private:
    mutable spinlock lock_;
    std::int64_t due_ns_;
    bool stopped_;
    std::shared_ptr<channel<char>> kick_;  // made by the first waiter after each change
};

template <class Src, class F>
class select_timer;

}  // namespace detail

// A one-shot timer (see the top of this file).
class timer {
public:
    using value_type = std::chrono::steady_clock::time_point;  // what a select case is handed: the expiry

    timer() noexcept : core_(INT64_MAX, true) {}  // stopped
    explicit timer(deadline d) noexcept : core_(d.steady_ns(), false) {}

    // True once it has fired; false when it is stopped (at the call or while
    // waiting). Throws std::system_error (timed_out, operation_canceled).
    bool wait();
    bool wait(std::error_code& ec);

    // Arms it at d. True when it was armed and had not fired yet (Go's Reset).
    bool reset(deadline d) noexcept;
    // Disarms it. True when it was armed and had not fired yet.
    bool stop() noexcept;
    bool fired() const noexcept;
    deadline expiry() const noexcept;  // none when stopped

private:
    template <class, class>
    friend class detail::select_timer;
    bool take(value_type& v) const noexcept;  // fired: its expiry
    detail::timer_core core_;
};

// A periodic ticker (see the top of this file).
class ticker {
public:
    using value_type = tick;

    template <class Rep, class Period>
    explicit ticker(const std::chrono::duration<Rep, Period>& period) : ticker(period_ns(period)) {}

    // The next tick; nullopt when stopped. Throws std::system_error
    // (timed_out, operation_canceled); the error_code form returns nullopt then.
    std::optional<tick> wait();
    std::optional<tick> wait(std::error_code& ec);
    // Takes a tick that is due now, without waiting.
    std::optional<tick> try_wait() noexcept;

    // A new period; the next tick a period from now. Starts a stopped ticker.
    template <class Rep, class Period>
    void reset(const std::chrono::duration<Rep, Period>& period) {
        reset_ns(period_ns(period));
    }
    void stop() noexcept;
    bool stopped() const noexcept;

private:
    template <class, class>
    friend class detail::select_timer;
    template <class Rep, class Period>
    static std::int64_t period_ns(const std::chrono::duration<Rep, Period>& p) {
        // Saturating, as deadlines are: a period too long for the clock never ticks.
        const long double ns = std::chrono::duration_cast<std::chrono::duration<long double, std::nano>>(p).count();
        if (ns >= static_cast<long double>(INT64_MAX)) return INT64_MAX;
        return static_cast<std::int64_t>(ns);
    }
    explicit ticker(std::int64_t period_ns);
    void reset_ns(std::int64_t period_ns);
    bool take(tick& v) noexcept;

    detail::timer_core core_;
    std::int64_t period_ns_;  // guarded by core_'s lock once constructed
};

// Go's time.After: a timer armed at d, as a value to select or wait on.
//   weft::select(weft::recv_case(ch, fn), weft::recv_case(weft::after(1s), on_timeout));
inline timer after(deadline d) noexcept { return timer(d); }

namespace detail {

// A select case on a timer or ticker: ready when it fired (timer) or a tick
// is due (ticker); parks on its kick channel meanwhile, so a reset or stop
// wakes the select to look again.
template <class Src, class F>
class select_timer {
public:
    static constexpr select_kind kind = select_kind::timer;
    select_timer(Src& src, F fn) : src_(&src), fn_(std::move(fn)) {}
    select_timer(const select_timer&) = delete;
    select_timer& operator=(const select_timer&) = delete;

    // Before parking: when it is due (INT64_MAX: never), and op set up to
    // receive from the kick channel.
    std::int64_t arm(chan_op& op) {
        timer_core::view v = src_->core_.look();
        kick_ = std::move(v.kick);
        op.ch = chan_access::core(*kick_);
        op.value = std::addressof(slot_.value);
        op.send = false;
        return v.stopped ? INT64_MAX : v.due_ns;
    }
    bool take() noexcept { return src_->take(value_); }
    std::error_code fire(const chan_result&) {
        fn_(std::move(value_));
        return {};
    }

private:
    Src* src_;
    F fn_;
    typename Src::value_type value_{};
    std::shared_ptr<channel<char>> kick_;
    chan_slot<char> slot_;  // a kick carries no value: the channel only closes
};

}  // namespace detail

// select cases: fn(std::chrono::steady_clock::time_point) for a timer (its
// expiry), fn(weft::tick) for a ticker. A temporary (weft::after(d)) lives
// until the end of the select call that names it.
template <class F>
detail::select_timer<timer, std::decay_t<F>> recv_case(timer& t, F&& fn) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, timer::value_type&&>,
                  "weft::recv_case(timer): fn must be callable as fn(std::chrono::steady_clock::time_point)");
    return {t, std::forward<F>(fn)};
}
template <class F>
detail::select_timer<timer, std::decay_t<F>> recv_case(timer&& t, F&& fn) {
    return recv_case(t, std::forward<F>(fn));
}
template <class F>
detail::select_timer<ticker, std::decay_t<F>> recv_case(ticker& t, F&& fn) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, tick&&>,
                  "weft::recv_case(ticker): fn must be callable as fn(weft::tick)");
    return {t, std::forward<F>(fn)};
}

}  // namespace weft
