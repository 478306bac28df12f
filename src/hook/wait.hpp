// How a hooked call waits: a fiber parks on its worker's reactor; a plain
// thread blocks in the kernel (ppoll) on an fd the hooks made non-blocking.
#pragma once

#include <cstdint>

#include "hook/fd_table.hpp"
#include "sched/worker.hpp"

namespace weft::detail::hook {

// The calling fiber's worker; nullptr on a plain thread or a worker's own
// stack, where every hook passes straight through.
inline worker* fiber_worker() noexcept {
    worker* w = worker::current();
    return w && w->on_fiber() ? w : nullptr;
}

// The fd's flags, classifying it on first use from a fiber: a socket the
// caller left blocking is switched to O_NONBLOCK underneath (managed). Stdin,
// stdout and stderr are never switched: their file descriptions are shared
// with other processes. st is nullptr when the fd is out of the table's range.
std::uint32_t classify(int fd, fd_state*& st) noexcept;

// Records a new fd from socket()/accept(): nonblock_underneath when the hooks
// added SOCK_NONBLOCK, user_nonblock when the caller asked for it.
void record_new_fd(int fd, bool nonblock_underneath, bool user_nonblock) noexcept;

// steady_now + timeout, or no_deadline for 0.
std::int64_t deadline_after(std::int64_t timeout_ns) noexcept;

// Parks the calling fiber until fd is ready for reading or writing or the
// deadline passes, registering fd with the worker's reactor first if the
// hooks have not yet. Returns 0 (maybe early: callers retry their call) or an
// errno value: ETIMEDOUT, ECANCELED, EBADF (closed meanwhile), or why the fd
// cannot be registered (EPERM for regular files).
int park_on_fd(worker& w, int fd, fd_state* st, bool write, std::int64_t deadline_ns) noexcept;

// Blocks the calling thread in ppoll until fd is ready or the deadline passes;
// 0, ETIMEDOUT or an errno value.
int thread_wait_fd(int fd, bool write, std::int64_t deadline_ns) noexcept;

// Parks the calling fiber until the steady-clock deadline; 0, ETIMEDOUT (an
// enclosing deadline_scope ended first) or ECANCELED.
int park_until(worker& w, std::int64_t deadline_ns) noexcept;

}  // namespace weft::detail::hook
