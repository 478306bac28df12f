// weft::select: waits on several channel operations at once and completes
// exactly one of them.
//
//   int which = weft::select(
//       weft::recv_case(a, [&](std::optional<int> v) { ... }),   // nullopt: a closed and drained
//       weft::send_case(b, 42, [&] { ... }),                      // 42 was handed over
//       weft::timeout_case(50ms, [&] { ... }));                   // nothing was ready in time
//
// Returns the position (0-based, in argument order) of the case that fired;
// its callback has run by then, exactly once, on the calling fiber or thread,
// with no channel lock held. No other case has any effect: in particular only
// the winning send case hands its value over, and only the winning recv case
// takes one.
//
// Cases:
//   recv_case(ch, fn)       ready when ch has a value, a parked sender (capacity 0),
//                           or is closed and drained; calls fn(std::optional<T>),
//                           std::nullopt meaning closed.
//   send_case(ch, v, fn)    ready when ch has room or a parked receiver, or is
//                           closed. v is stored in the case (moved or copied in).
//                           fn() runs once the value is handed over. On a closed
//                           channel: when fn takes a std::error_code it is called
//                           with std::errc::broken_pipe (and with a cleared code on
//                           success); otherwise select fails with broken_pipe. The
//                           value is destroyed with the case object when not sent.
//   timeout_case(d, fn)     fires when nothing was ready by the weft::deadline d
//                           (a duration from now or a steady time point).
//   default_case(fn)        fires at once when nothing is ready: a select that
//                           never parks.
//   recv_case(timer, fn), recv_case(ticker, fn), recv_case(weft::after(d), fn)
//                           (weft/timer.hpp) ready when the timer has fired or a
//                           tick is due; any number of them, with the other cases.
// fn may be omitted for timeout_case and default_case. At most one
// timeout_case or default_case per select.
//
// Fairness: when several cases are ready, each is equally likely to win (the
// ready check starts at a random case). When none is, the caller parks on all
// the channels at once and the first operation that arrives wins; the others
// are unlinked before select returns.
//
// Errors: select honours an enclosing deadline_scope (timed_out) and fiber
// cancellation (operation_canceled) as every channel call does; the plain
// form throws std::system_error, the form taking a std::error_code& first
// returns -1 and sets it (also for a send case failing with broken_pipe). A
// case may name the same channel as another case.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "weft/deadline.hpp"
#include "weft/sync/channel.hpp"

namespace weft {

namespace detail {

struct chan_access {
    template <class T>
    static chan_core* core(channel<T>& ch) noexcept {
        return &ch.core_;
    }
};

struct select_noop {
    void operator()() const noexcept {}
};

enum class select_kind { recv, send, timeout, fallback, timer };

template <class T, class F>
class select_recv {
public:
    static constexpr select_kind kind = select_kind::recv;
    select_recv(channel<T>& ch, F fn) : ch_(&ch), fn_(std::move(fn)) {}
    select_recv(const select_recv&) = delete;
    select_recv& operator=(const select_recv&) = delete;

    void setup(chan_op& op) noexcept {
        op.ch = chan_access::core(*ch_);
        op.value = std::addressof(slot_.value);
        op.send = false;
    }
    std::error_code fire(const chan_result& r) {
        std::optional<T> v;
        if (!r.closed) {
            v.emplace(std::move(slot_.value));
            slot_.value.~T();
        }
        fn_(std::move(v));
        return {};
    }

private:
    channel<T>* ch_;
    F fn_;
    chan_slot<T> slot_;
};

template <class T, class F>
class select_send {
public:
    static constexpr select_kind kind = select_kind::send;
    template <class U>
    select_send(channel<T>& ch, U&& v, F fn) : ch_(&ch), value_(std::forward<U>(v)), fn_(std::move(fn)) {}
    select_send(const select_send&) = delete;
    select_send& operator=(const select_send&) = delete;

    void setup(chan_op& op) noexcept {
        op.ch = chan_access::core(*ch_);
        op.value = std::addressof(value_);
        op.send = true;
    }
    std::error_code fire(const chan_result& r) {
        const std::error_code ec = r.closed ? std::make_error_code(std::errc::broken_pipe) : std::error_code();
        if constexpr (std::is_invocable_v<F&, std::error_code>) {
            fn_(ec);
            return {};
        } else {
            static_assert(std::is_invocable_v<F&>, "weft::send_case: fn must be callable as fn() or fn(std::error_code)");
            if (ec) return ec;
            fn_();
            return {};
        }
    }

private:
    channel<T>* ch_;
    T value_;
    F fn_;
};

template <class F>
class select_timeout {
public:
    static constexpr select_kind kind = select_kind::timeout;
    select_timeout(deadline d, F fn) : d_(d), fn_(std::move(fn)) {}
    std::int64_t deadline_ns() const noexcept { return d_.steady_ns(); }
    std::error_code fire(const chan_result&) {
        fn_();
        return {};
    }

private:
    deadline d_;
    F fn_;
};

template <class F>
class select_default {
public:
    static constexpr select_kind kind = select_kind::fallback;
    explicit select_default(F fn) : fn_(std::move(fn)) {}
    std::error_code fire(const chan_result&) {
        fn_();
        return {};
    }

private:
    F fn_;
};

template <class C>
inline constexpr bool is_channel_case = C::kind == select_kind::recv || C::kind == select_kind::send;

template <class... Cases>
int select_run_timers(std::error_code& ec, Cases&... cases);

template <class... Cases>
int select_run(std::error_code& ec, Cases&... cases) {
    if constexpr (((Cases::kind == select_kind::timer) || ...)) return select_run_timers(ec, cases...);
    constexpr std::size_t n_chan = (std::size_t{is_channel_case<Cases>} + ... + std::size_t{0});
    constexpr std::size_t n_timeout = (std::size_t{Cases::kind == select_kind::timeout} + ... + std::size_t{0});
    constexpr std::size_t n_default = (std::size_t{Cases::kind == select_kind::fallback} + ... + std::size_t{0});
    static_assert(n_timeout + n_default <= 1, "weft::select: at most one timeout_case or default_case");

    chan_op ops[n_chan > 0 ? n_chan : 1];
    int case_of[n_chan > 0 ? n_chan : 1] = {};
    int timeout_index = -1;
    int default_index = -1;
    std::int64_t deadline_ns = INT64_MAX;
    {
        std::size_t k = 0;
        int i = 0;
        auto add = [&](auto& c) {
            using C = std::remove_reference_t<decltype(c)>;
            if constexpr (is_channel_case<C>) {
                c.setup(ops[k]);
                case_of[k++] = i;
            } else if constexpr (C::kind == select_kind::timeout) {
                timeout_index = i;
                deadline_ns = c.deadline_ns();
            } else {
                default_index = i;
            }
            ++i;
        };
        (add(cases), ...);
    }

    const chan_result r = chan_run(ops, n_chan, deadline_ns, default_index < 0);
    int fired;
    if (r.ok()) {
        fired = case_of[r.index];
    } else if (r.err == std::errc::operation_would_block && default_index >= 0) {
        fired = default_index;
    } else if (r.err == std::errc::timed_out && timeout_index >= 0 && r.own_deadline) {
        fired = timeout_index;
    } else {
        ec = std::make_error_code(r.err);  // a deadline_scope ended first, or the fiber was canceled
        return -1;
    }

    std::error_code fire_ec;
    {
        int i = 0;
        auto fire = [&](auto& c) {
            if (i++ == fired) fire_ec = c.fire(r);
        };
        (fire(cases), ...);
    }
    if (fire_ec) {
        ec = fire_ec;
        return -1;
    }
    ec.clear();
    return fired;
}

// Calls the callback of the case at argument position `fired`.
template <class... Cases>
std::error_code select_fire(int fired, const chan_result& r, Cases&... cases) {
    std::error_code fire_ec;
    int i = 0;
    auto fire = [&](auto& c) {
        if (i++ == fired) fire_ec = c.fire(r);
    };
    (fire(cases), ...);
    return fire_ec;
}

// select with timer cases. A timer is not a channel: nothing hands a value
// over, so the select itself looks at each timer's due time, parks until the
// earliest of them (or the timeout) and, on its channels, also on each
// timer's kick channel, which a reset or stop closes. Then it looks again.
template <class... Cases>
int select_run_timers(std::error_code& ec, Cases&... cases) {
    constexpr std::size_t n_chan = (std::size_t{is_channel_case<Cases>} + ... + std::size_t{0});
    constexpr std::size_t n_timer = (std::size_t{Cases::kind == select_kind::timer} + ... + std::size_t{0});
    constexpr std::size_t n_timeout = (std::size_t{Cases::kind == select_kind::timeout} + ... + std::size_t{0});
    constexpr std::size_t n_default = (std::size_t{Cases::kind == select_kind::fallback} + ... + std::size_t{0});
    static_assert(n_timeout + n_default <= 1, "weft::select: at most one timeout_case or default_case");

    chan_op ops[n_chan + n_timer];  // the channel cases, then each timer's kick
    int case_of[n_chan + n_timer] = {};
    std::int64_t due[n_timer] = {};
    int timeout_index = -1;
    int default_index = -1;
    std::int64_t timeout_ns = INT64_MAX;
    {
        std::size_t k = 0;
        int i = 0;
        auto add = [&](auto& c) {
            using C = std::remove_reference_t<decltype(c)>;
            if constexpr (is_channel_case<C>) {
                c.setup(ops[k]);
                case_of[k++] = i;
            } else if constexpr (C::kind == select_kind::timeout) {
                timeout_index = i;
                timeout_ns = c.deadline_ns();
            } else if constexpr (C::kind == select_kind::fallback) {
                default_index = i;
            }
            ++i;
        };
        (add(cases), ...);
    }
    // Takes the fired timer (or tick) of the timer case numbered `want`.
    auto take = [&](std::size_t want) {
        bool taken = false;
        std::size_t t = 0;
        auto one = [&](auto& c) {
            using C = std::remove_reference_t<decltype(c)>;
            if constexpr (C::kind == select_kind::timer) {
                if (t++ == want) taken = c.take();
            }
        };
        (one(cases), ...);
        return taken;
    };

    int fired = -1;
    chan_result r;
    while (fired < 0) {
        std::int64_t deadline_ns = timeout_ns;
        {
            std::size_t t = 0;
            int i = 0;
            auto arm = [&](auto& c) {
                using C = std::remove_reference_t<decltype(c)>;
                if constexpr (C::kind == select_kind::timer) {
                    due[t] = c.arm(ops[n_chan + t]);
                    case_of[n_chan + t] = i;
                    if (due[t] < deadline_ns) deadline_ns = due[t];
                    ++t;
                }
                ++i;
            };
            (arm(cases), ...);
        }
        const std::int64_t now = chan_now_ns();
        std::size_t n_due = 0;
        for (std::size_t t = 0; t < n_timer; ++t) n_due += due[t] <= now;
        if (n_due > 0) {
            // Due timers and ready channels are equally likely to win.
            if (n_chan > 0 && chan_random() % (n_chan + n_due) < n_chan) {
                r = chan_run(ops, n_chan, INT64_MAX, /*blocking=*/false);
                if (r.ok()) {
                    fired = case_of[r.index];
                    break;
                }
            }
            const std::size_t start = static_cast<std::size_t>(chan_random() % n_timer);
            for (std::size_t j = 0; j < n_timer && fired < 0; ++j) {
                const std::size_t t = (start + j) % n_timer;
                if (due[t] <= now && take(t)) fired = case_of[n_chan + t];
            }
            r = chan_result{};
            continue;  // none left to take (another waiter was faster): look again
        }
        r = chan_run(ops, n_chan + n_timer, deadline_ns, default_index < 0);
        if (r.ok()) {
            if (static_cast<std::size_t>(r.index) < n_chan) fired = case_of[r.index];
            continue;  // else a kick: a timer changed, look again
        }
        if (r.err == std::errc::operation_would_block && default_index >= 0) {
            fired = default_index;
        } else if (r.err == std::errc::timed_out && r.own_deadline) {
            // A timer fell due (looked at above), or the timeout passed.
            if (timeout_index >= 0 && chan_now_ns() >= timeout_ns) fired = timeout_index;
        } else {
            ec = std::make_error_code(r.err);  // a deadline_scope ended first, or the fiber was canceled
            return -1;
        }
    }
    if (std::error_code fire_ec = select_fire(fired, r, cases...)) {
        ec = fire_ec;
        return -1;
    }
    ec.clear();
    return fired;
}

}  // namespace detail

template <class T, class F>
detail::select_recv<T, std::decay_t<F>> recv_case(channel<T>& ch, F&& fn) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, std::optional<T>&&>,
                  "weft::recv_case: fn must be callable as fn(std::optional<T>)");
    return {ch, std::forward<F>(fn)};
}

template <class T, class U, class F>
detail::select_send<T, std::decay_t<F>> send_case(channel<T>& ch, U&& value, F&& fn) {
    static_assert(std::is_constructible_v<T, U&&>, "weft::send_case: the value must convert to T");
    return {ch, std::forward<U>(value), std::forward<F>(fn)};
}

template <class T, class U>
detail::select_send<T, detail::select_noop> send_case(channel<T>& ch, U&& value) {
    return {ch, std::forward<U>(value), detail::select_noop{}};
}

template <class F>
detail::select_timeout<std::decay_t<F>> timeout_case(deadline d, F&& fn) {
    return {d, std::forward<F>(fn)};
}
inline detail::select_timeout<detail::select_noop> timeout_case(deadline d) { return {d, detail::select_noop{}}; }

template <class F>
detail::select_default<std::decay_t<F>> default_case(F&& fn) {
    return detail::select_default<std::decay_t<F>>(std::forward<F>(fn));
}
inline detail::select_default<detail::select_noop> default_case() {
    return detail::select_default<detail::select_noop>(detail::select_noop{});
}

// Returns the index of the case that fired; throws std::system_error
// (timed_out from a deadline_scope, operation_canceled, broken_pipe from a
// send case whose fn takes no error_code).
template <class... Cases>
int select(Cases&&... cases) {
    static_assert(sizeof...(Cases) > 0, "weft::select needs at least one case");
    std::error_code ec;
    const int i = detail::select_run(ec, cases...);
    if (ec) detail::chan_throw(ec, "weft::select");
    return i;
}

// As above; returns -1 and sets ec instead of throwing.
template <class... Cases>
int select(std::error_code& ec, Cases&&... cases) {
    static_assert(sizeof...(Cases) > 0, "weft::select needs at least one case");
    return detail::select_run(ec, cases...);
}

}  // namespace weft
