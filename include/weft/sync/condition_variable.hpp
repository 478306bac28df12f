// weft::condition_variable for weft::mutex: waiting parks the fiber (or
// blocks a plain thread) and releases the mutex meanwhile.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "weft/deadline.hpp"
#include "weft/detail/wait_queue.hpp"
#include "weft/sync/mutex.hpp"

namespace weft {

// Waits are not ended by cancellation (std semantics have no error path);
// an enclosing deadline_scope ends them as a timeout. Spurious wake-ups are
// possible, as with std::condition_variable: use the predicate forms.
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

private:
    std::cv_status wait_until_ns(std::unique_lock<mutex>& lk, std::int64_t deadline_ns);

    detail::spinlock guard_;
    detail::wait_list waiters_;
};

}  // namespace weft
