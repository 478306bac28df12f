// weft::condition_variable for weft::mutex: waiting parks the fiber (or
// blocks a plain thread) and releases the mutex meanwhile.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>

#include "weft/deadline.hpp"
#include "weft/detail/wait_queue.hpp"
#include "weft/stop.hpp"
#include "weft/sync/mutex.hpp"

namespace weft {

// Waits are not ended by cancellation (std semantics have no error path);
// an enclosing deadline_scope ends them as a timeout. Spurious wake-ups are
// possible, as with std::condition_variable: use the predicate forms.
//
// The forms taking a std::stop_token are std::condition_variable_any's: they
// return pred() as soon as stop is requested (the wait is ended by a
// stop_scope on the token, from any thread), and also when the fiber is
// canceled (fiber_handle::cancel(), an enclosing stop_scope).
class condition_variable {
public:
    condition_variable() noexcept = default;
    condition_variable(const condition_variable&) = delete;
    condition_variable& operator=(const condition_variable&) = delete;

    void notify_one() noexcept;
    void notify_all() noexcept;

    void wait(std::unique_lock<mutex>& lk) { wait_until_ns(lk, INT64_MAX); }
    template <class Predicate>
    void wait(std::unique_lock<mutex>& lk, Predicate pred) {
        while (!pred()) wait(lk);
    }

    std::cv_status wait_until(std::unique_lock<mutex>& lk, deadline d) { return wait_until_ns(lk, d.steady_ns()); }
    template <class Clock, class Duration>
    std::cv_status wait_until(std::unique_lock<mutex>& lk, const std::chrono::time_point<Clock, Duration>& tp) {
        return wait_until(lk, deadline(tp));
    }
    template <class Rep, class Period>
    std::cv_status wait_for(std::unique_lock<mutex>& lk, const std::chrono::duration<Rep, Period>& d) {
        return wait_until(lk, deadline(d));
    }
    template <class Clock, class Duration, class Predicate>
    bool wait_until(std::unique_lock<mutex>& lk, const std::chrono::time_point<Clock, Duration>& tp, Predicate pred) {
        const deadline d = deadline(tp);
        while (!pred())
            if (wait_until(lk, d) == std::cv_status::timeout) return pred();
        return true;
    }
    template <class Rep, class Period, class Predicate>
    bool wait_for(std::unique_lock<mutex>& lk, const std::chrono::duration<Rep, Period>& rel, Predicate pred) {
        const deadline d(rel);
        while (!pred())
            if (wait_until(lk, d) == std::cv_status::timeout) return pred();
        return true;
    }

    // ---- with a std::stop_token, as std::condition_variable_any ----
    template <class Predicate>
    bool wait(std::unique_lock<mutex>& lk, std::stop_token st, Predicate pred) {
        return wait_stoppable(lk, st, INT64_MAX, pred);
    }
    template <class Clock, class Duration, class Predicate>
    bool wait_until(std::unique_lock<mutex>& lk, std::stop_token st,
                    const std::chrono::time_point<Clock, Duration>& tp, Predicate pred) {
        return wait_stoppable(lk, st, deadline(tp).steady_ns(), pred);
    }
    template <class Rep, class Period, class Predicate>
    bool wait_for(std::unique_lock<mutex>& lk, std::stop_token st, const std::chrono::duration<Rep, Period>& rel,
                  Predicate pred) {
        return wait_stoppable(lk, st, deadline(rel).steady_ns(), pred);
    }

private:
    enum class wake { notified, timeout, canceled };
    std::cv_status wait_until_ns(std::unique_lock<mutex>& lk, std::int64_t deadline_ns);
    wake wait_ns(std::unique_lock<mutex>& lk, std::int64_t deadline_ns, bool cancelable);

    template <class Predicate>
    bool wait_stoppable(std::unique_lock<mutex>& lk, const std::stop_token& st, std::int64_t deadline_ns,
                        Predicate& pred) {
        stop_scope scope{st};  // a stop ends the wait in progress
        while (!st.stop_requested()) {
            if (pred()) return true;
            if (wait_ns(lk, deadline_ns, /*cancelable=*/true) != wake::notified) return pred();
        }
        return pred();
    }

    detail::spinlock guard_;
    detail::wait_list waiters_;
};

}  // namespace weft
