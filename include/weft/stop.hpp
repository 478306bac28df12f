// weft::stop_scope: std::stop_token cancellation for every blocking call of
// the calling fiber (or plain thread) while the scope lives.
#pragma once

#include <atomic>
#include <optional>
#include <stop_token>

namespace weft {

// While alive, a stop request on the token (std::stop_source::request_stop,
// std::jthread's or weft::jfiber's, from any thread) makes the current
// blocking call of this fiber or thread and every later one inside the scope
// fail with std::errc::operation_canceled: sleeps, socket I/O and DNS, the
// sync primitives' timed and failable waits, channels and select, timers,
// offload. Waits that have no way to fail (mutex::lock, join) are not ended,
// as with fiber_handle::cancel(). It is the same path as cancel(), with one
// difference: it ends with the scope, so code after the scope blocks
// normally again.
//
//   void worker_loop(std::stop_token st) {
//       weft::stop_scope scope{st};
//       while (auto job = jobs.recv(ec)) handle(*job);   // ec: operation_canceled on stop
//   }
//
// One mechanism for every call, rather than a stop_token parameter on each:
// the calls that take a std::stop_token themselves (condition_variable's
// wait forms, this_fiber::sleep_for/until) are a stop_scope around the
// plain call. Nested scopes add up: any stopped enclosing scope cancels.
// A plain thread's waits on weft primitives are ended the same way. Not
// movable; must be destroyed on the fiber or thread that made it. A token
// with no stop state (default-constructed) never cancels anything.
class stop_scope {
public:
    explicit stop_scope(std::stop_token st);
    ~stop_scope();
    stop_scope(const stop_scope&) = delete;
    stop_scope& operator=(const stop_scope&) = delete;

private:
    struct on_stop {
        stop_scope* scope;
        void operator()() const noexcept { scope->fire(); }
    };
    void fire() noexcept;

    void* target_ = nullptr;  // the fiber, or the thread's stop state
    bool on_fiber_ = false;
    std::atomic<bool> fired_{false};
    std::optional<std::stop_callback<on_stop>> callback_;  // last: registered once the rest is set
};

}  // namespace weft
