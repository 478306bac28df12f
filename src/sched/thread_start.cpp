// The thread start test hook (see thread_start.hpp).
#include "sched/thread_start.hpp"

#include <atomic>

namespace weft::detail {

namespace {
std::atomic<int> fail_at[2] = {-1, -1};  // by thread_role
}

void fail_thread_start_for_test(thread_role role, int index) noexcept {
    fail_at[static_cast<unsigned>(role)].store(index, std::memory_order_relaxed);
}

bool thread_start_fails(thread_role role, unsigned index) noexcept {
    return static_cast<int>(index) == fail_at[static_cast<unsigned>(role)].load(std::memory_order_relaxed);
}

}  // namespace weft::detail
