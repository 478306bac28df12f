// timer and ticker (weft/timer.hpp): a due time under a lock, and waits on
// a kick channel with that due time as the deadline. The channel is the
// wait: a reset or stop closes it to wake every waiter and select at once,
// and the first waiter after that makes the next one.
#include "weft/timer.hpp"

#include <utility>

#include "platform/clock.hpp"

namespace weft {
namespace detail {

namespace {
// now + d in steady ns, saturating at INT64_MAX ("never").
std::int64_t saturating_add(std::int64_t at, std::int64_t d) noexcept {
    return d > INT64_MAX - at ? INT64_MAX : at + d;
}

std::chrono::steady_clock::time_point to_time_point(std::int64_t ns) noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(ns)));
}
}  // namespace

timer_core::view timer_core::look() {
    lock_.lock();
    if (!kick_) {
        lock_.unlock();
        auto fresh = std::make_shared<channel<char>>(0);  // nobody sends: it only closes
        lock_.lock();
        if (!kick_) kick_ = std::move(fresh);
    }
    view v{due_ns_, stopped_, kick_};
    lock_.unlock();
    return v;
}

bool timer_core::park(const view& v, std::error_code& ec) {
    // "Never" still parks with a deadline: a long sleep, not a deadlock.
    const std::int64_t until = v.due_ns == INT64_MAX ? INT64_MAX - 1 : v.due_ns;
    std::error_code e;
    v.kick->recv_until(deadline(to_time_point(until)), e);
    if (!e) return true;  // kicked: the timer changed
    if (e == std::errc::timed_out && steady_now_ns() >= until) return true;  // due: take it
    ec = e;  // a deadline_scope that ends sooner, or cancellation
    return false;
}

}  // namespace detail

// ---- timer ----------------------------------------------------------------------

bool timer::wait() {
    std::error_code ec;
    const bool fired = wait(ec);
    if (ec) detail::chan_throw(ec, "weft::timer::wait");
    return fired;
}

bool timer::wait(std::error_code& ec) {
    ec.clear();
    for (;;) {
        const detail::timer_core::view v = core_.look();
        if (v.stopped) return false;
        if (v.due_ns <= detail::steady_now_ns()) return true;
        if (!detail::timer_core::park(v, ec)) return false;
    }
}

bool timer::reset(deadline d) noexcept {
    return core_.change([&](std::int64_t& due, bool& stopped) {
        const bool was_pending = !stopped && due > detail::steady_now_ns();
        due = d.steady_ns();
        stopped = false;
        return was_pending;
    });
}

bool timer::stop() noexcept {
    return core_.change([](std::int64_t& due, bool& stopped) {
        const bool was_pending = !stopped && due > detail::steady_now_ns();
        stopped = true;
        return was_pending;
    });
}

bool timer::fired() const noexcept {
    return core_.read([](std::int64_t due, bool stopped) { return !stopped && due <= detail::steady_now_ns(); });
}

deadline timer::expiry() const noexcept {
    return core_.read([](std::int64_t due, bool stopped) {
        return stopped ? deadline::none() : deadline(detail::to_time_point(due));
    });
}

bool timer::take(value_type& v) const noexcept {
    std::int64_t at = 0;
    const bool ok = core_.read([&](std::int64_t due, bool stopped) {
        at = due;
        return !stopped && due <= detail::steady_now_ns();
    });
    if (ok) v = detail::to_time_point(at);
    return ok;
}

// ---- ticker ---------------------------------------------------------------------

namespace {
std::int64_t checked_period(std::int64_t period_ns) {
    if (period_ns <= 0)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "weft::ticker: the period must be positive");
    return period_ns;
}
}  // namespace

ticker::ticker(std::int64_t period_ns)
    : core_(detail::saturating_add(detail::steady_now_ns(), checked_period(period_ns)), false),
      period_ns_(period_ns) {}

std::optional<tick> ticker::wait() {
    std::error_code ec;
    std::optional<tick> t = wait(ec);
    if (ec) detail::chan_throw(ec, "weft::ticker::wait");
    return t;
}

std::optional<tick> ticker::wait(std::error_code& ec) {
    ec.clear();
    for (;;) {
        tick t;
        if (take(t)) return t;
        const detail::timer_core::view v = core_.look();
        if (v.stopped) return std::nullopt;
        if (v.due_ns <= detail::steady_now_ns()) continue;  // another waiter took it meanwhile? look again
        if (!detail::timer_core::park(v, ec)) return std::nullopt;
    }
}

std::optional<tick> ticker::try_wait() noexcept {
    tick t;
    if (take(t)) return t;
    return std::nullopt;
}

void ticker::reset_ns(std::int64_t period_ns) {
    checked_period(period_ns);
    core_.change([&](std::int64_t& due, bool& stopped) {
        period_ns_ = period_ns;
        due = detail::saturating_add(detail::steady_now_ns(), period_ns);
        stopped = false;
        return true;
    });
}

void ticker::stop() noexcept {
    core_.change([](std::int64_t&, bool& stopped) {
        stopped = true;
        return true;
    });
}

bool ticker::stopped() const noexcept {
    return core_.read([](std::int64_t, bool stopped) { return stopped; });
}

bool ticker::take(tick& v) noexcept {
    // Under the lock, so exactly one taker gets each tick; a later due time
    // needs no kick: waiters parked for the old one wake, find it taken and
    // park again.
    return core_.update([&](std::int64_t& due, bool stopped) {
        if (stopped || due == INT64_MAX) return false;
        const std::int64_t now = detail::steady_now_ns();
        if (due > now) return false;
        // The ticks missed since are dropped; the schedule stays on its grid.
        const std::int64_t missed = (now - due) / period_ns_;
        const std::int64_t latest = due + missed * period_ns_;  // <= now: no overflow
        due = detail::saturating_add(latest, period_ns_);
        v.due = detail::to_time_point(latest);
        v.dropped = static_cast<std::uint64_t>(missed);
        return true;
    });
}

}  // namespace weft
