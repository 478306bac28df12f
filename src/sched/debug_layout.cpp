#include "sched/debug_layout.hpp"

#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "platform/os_lock.hpp"
#include "sched/worker.hpp"

// Layout version 1. A change of any field below bumps the version; the
// script refuses a version it does not know.
extern "C" {
struct weft_debug_layout {
    char magic[8];  // "weftdbg"
    std::uint32_t version;
    std::uint32_t size;
    const void* workers;  // address of the first live worker (worker*), see debug_register
    std::uint32_t worker_next, worker_tid, worker_all, worker_current;
    std::uint32_t fiber_id, fiber_name, fiber_name_size, fiber_state, fiber_waiting_on, fiber_wait_fd;
    std::uint32_t fiber_sp, fiber_stack_lo, fiber_stack_size, fiber_all_next;
    std::uint32_t state_count, wait_count;
    const char* const* state_names;  // indexed by the one-byte fiber_state
    const char* const* wait_names;   // indexed by the one-byte wait_reason
};
__attribute__((visibility("default"))) extern const weft_debug_layout weft_debug_descriptor;
}

namespace weft::detail {

// The worker's private members, for offsetof.
struct worker_debug_offsets {
    static std::uint32_t next() noexcept { return offsetof(worker, debug_next_); }
    static std::uint32_t tid() noexcept { return offsetof(worker, debug_tid_); }
    static std::uint32_t all() noexcept { return offsetof(worker, all_); }
    static std::uint32_t current() noexcept { return offsetof(worker, current_); }
};

namespace {

worker* live_workers = nullptr;  // read by debuggers in a stopped process
os_mutex live_mu;

constexpr unsigned state_count = static_cast<unsigned>(fiber_state::finished) + 1;
constexpr unsigned wait_count = static_cast<unsigned>(wait_reason_last) + 1;

template <class E, unsigned N>
struct names {
    const char* text[N];
    names() noexcept {
        for (unsigned i = 0; i < N; ++i) text[i] = to_string(static_cast<E>(i));
    }
};
const names<fiber_state, state_count> state_names;
const names<wait_reason, wait_count> wait_names;

}  // namespace

void debug_register(worker* w) noexcept {
#if defined(__linux__)
    w->debug_tid_ = static_cast<int>(::syscall(SYS_gettid));  // gdb's LWP of the thread
#endif
    std::lock_guard<os_mutex> g(live_mu);
    w->debug_next_ = live_workers;
    live_workers = w;
}

void debug_unregister(worker* w) noexcept {
    std::lock_guard<os_mutex> g(live_mu);
    for (worker** p = &live_workers; *p; p = &(*p)->debug_next_)
        if (*p == w) {
            *p = w->debug_next_;
            return;
        }
}

}  // namespace weft::detail

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"  // fiber and worker are not standard-layout; GCC and Clang lay them out plainly
using weft::detail::fiber;
__attribute__((used)) const weft_debug_layout weft_debug_descriptor = {
    {'w', 'e', 'f', 't', 'd', 'b', 'g', '\0'},
    1,
    sizeof(weft_debug_layout),
    &weft::detail::live_workers,
    weft::detail::worker_debug_offsets::next(),
    weft::detail::worker_debug_offsets::tid(),
    weft::detail::worker_debug_offsets::all(),
    weft::detail::worker_debug_offsets::current(),
    offsetof(fiber, id),
    offsetof(fiber, name),
    sizeof(fiber::name),
    offsetof(fiber, state),
    offsetof(fiber, waiting_on),
    offsetof(fiber, wait_fd),
    offsetof(fiber, sp),
    offsetof(fiber, stk) + offsetof(weft::detail::stack, lo),
    offsetof(fiber, stk) + offsetof(weft::detail::stack, size),
    offsetof(fiber, all_next),
    weft::detail::state_count,
    weft::detail::wait_count,
    weft::detail::state_names.text,
    weft::detail::wait_names.text,
};
#pragma GCC diagnostic pop
