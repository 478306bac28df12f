// Helpers of the tests that wait for another fiber or thread to get somewhere:
// bounded waits (liveness only, never a timing assertion) and the error code a
// throwing call threw.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <system_error>
#include <thread>

#include "weft/weft.hpp"

namespace weft_await {

// Until pred() or about 10 s (liveness only): a fiber sleeps, a thread sleeps.
template <class P>
void await(P pred) {
    using namespace std::chrono_literals;
    for (int i = 0; i < 10000 && !pred(); ++i) {
        if (weft::in_fiber()) weft::this_fiber::sleep_for(1ms);
        else std::this_thread::sleep_for(1ms);
    }
}

inline void await_flag(const std::atomic<bool>& flag) {
    await([&] { return flag.load(); });
}

// The code of the std::system_error fn throws; none if it returns.
inline std::error_code code_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const std::system_error& e) {
        return e.code();
    }
    return {};
}

}  // namespace weft_await
