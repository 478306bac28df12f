// How a hooked call waits: a fiber waits on the poller (reactor/poller.hpp);
// a plain thread blocks in the kernel (ppoll) on an fd the hooks made
// non-blocking.
#pragma once

#include <cstdint>

#include "hook/fd_table.hpp"
#include "platform/clock.hpp"
#include "reactor/poller.hpp"
#include "sched/wait.hpp"

namespace weft::detail::hook {

// The calling fiber's worker; nullptr on a plain thread or a worker's own
// stack, where every hook passes straight through.
inline worker* fiber_worker() noexcept { return current_fiber_worker(); }

// The fd's flags, classifying it on first use from a fiber: a socket the
// caller left blocking stays blocking in the kernel, and the hooks make each
// call of a fiber on it non-blocking (per_call); so does a pipe or FIFO
// (per_call | pipe). st is nullptr when the fd is
// out of the table's range.
std::uint32_t classify(int fd, fd_state*& st) noexcept;

// Records a new fd from socket()/accept(): per_call when a fiber made it
// blocking, user_nonblock when the caller asked for O_NONBLOCK.
void record_new_fd(int fd, bool per_call, bool user_nonblock) noexcept;

// Where no per-call non-blocking form exists, a per_call fd becomes
// non-blocking underneath (managed; F_GETFL still shows the caller's view):
// a listener a fiber accepts on (accept has no such flag), a FIFO opened by
// path (the kernel refuses RWF_NOWAIT there). Returns the fd's flags.
std::uint32_t make_nonblocking_underneath(int fd, fd_state* st, std::uint32_t flags) noexcept;

// steady_now + timeout, or no_deadline for 0.
std::int64_t deadline_after(std::int64_t timeout_ns) noexcept;

// Parks the calling fiber until fd is ready for reading or writing (or became
// ready since `ticket`, an fd_ticket taken before the caller's last look) or
// the deadline passes; an fd weft has not seen yet is attached first. Returns
// 0 (maybe early: callers retry their call) or an errno value: ETIMEDOUT,
// ECANCELED, EBADF (closed meanwhile), or why the fd cannot be registered
// (EPERM for regular files).
int park_on_fd(worker& w, int fd, bool write, std::uint32_t ticket, std::int64_t deadline_ns,
               wait_reason why = wait_reason::none) noexcept;

// Blocks the calling thread in ppoll until fd is ready or the deadline passes;
// 0, ETIMEDOUT or an errno value.
int thread_wait_fd(int fd, bool write, std::int64_t deadline_ns) noexcept;

// Parks the calling fiber until the steady-clock deadline; 0, ETIMEDOUT (an
// enclosing deadline_scope ended first) or ECANCELED.
int park_until(worker& w, std::int64_t deadline_ns) noexcept;

}  // namespace weft::detail::hook
