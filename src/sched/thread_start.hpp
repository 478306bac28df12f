// Where weft starts threads of its own (a runtime's workers, the offload
// pool), with a hook for weft's tests: one start fails on demand, as a
// thread limit (RLIMIT_NPROC, pids.max) or no memory for a stack would.
#pragma once

#include <system_error>
#include <thread>
#include <utility>

namespace weft::detail {

enum class thread_role : unsigned char { worker, offload };

// From now on, starting thread number `index` (0-based, within one runtime
// or one offload pool) of `role` fails; -1: no failure.
void fail_thread_start_for_test(thread_role role, int index) noexcept;
bool thread_start_fails(thread_role role, unsigned index) noexcept;

// std::thread(fn): throws std::system_error as std::thread does when the
// thread cannot be made (resource_unavailable_try_again).
template <class F>
std::thread start_thread(thread_role role, unsigned index, F&& fn) {
    if (thread_start_fails(role, index))
        throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                                "weft: thread start (test hook)");
    return std::thread(std::forward<F>(fn));
}

}  // namespace weft::detail
