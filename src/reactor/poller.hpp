// The poller: fibers wait for fd readiness here, through the one wait
// primitive (sched/wait.hpp), on the process-wide fd table (fd_table.hpp).
//
// Each fd is registered with one worker's backend, its home, which reports
// its events; any number of fibers, on any worker, wait on it in per-direction
// FIFO lists, and every event wakes the whole list of its direction (each
// woken fiber retries its call; those that find nothing wait again, at the
// back). An fd follows its waiters: a fiber that waits on an fd nobody else
// waits on moves its registration to the fiber's own worker, so a connection
// served on one worker raises its events there. Closing an fd through weft,
// on any thread, wakes every waiter on every worker with bad_file_descriptor.
//
// The protocol of a caller (see net/io.hpp):
//   t = fd_ticket(fd, dir);  try the syscall;  on EAGAIN: fd_wait(fd, dir, t, d)
// A readiness event between the ticket and the wait makes fd_wait return at
// once, so the retry sees it: nothing is lost, and a wait after a successful
// call pays no extra syscall.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "fiber/fiber.hpp"
#include "reactor/fd_table.hpp"
#include "reactor/reactor.hpp"

namespace weft::detail {

// A descriptor weft made or adopted (a new socket, an accepted connection, a
// pipe): a new file, so any waiter left from an earlier file with the same
// number is woken with bad_file_descriptor. Fails only when the table cannot
// hold fd (out of memory, or beyond fd_table::max_fd).
std::error_code fd_attach(int fd) noexcept;

// Whether fd is attached and not closed through weft since.
bool fd_attached(int fd) noexcept;

// Take before each attempt of the I/O that may end in EAGAIN.
inline std::uint32_t fd_ticket(int fd, bool write) noexcept {
    const fd_entry* e = fd_table::find(fd);
    return e ? e->ready_seq[write ? 1 : 0].load(std::memory_order_acquire) : 0;
}

// Parks the calling fiber until fd is ready in that direction (or became
// ready since `ticket`), the deadline (steady ns; a deadline_scope may end it
// earlier) or cancel. Errors: timed_out, operation_canceled,
// bad_file_descriptor (not attached, or closed meanwhile), or why the fd
// cannot be registered (operation_not_permitted: a regular file).
// `why` shows in dumps (none: fd_read or fd_write).
std::error_code fd_wait(int fd, bool write, std::uint32_t ticket, std::int64_t deadline_ns,
                        wait_reason why = wait_reason::none);

// Wakes every waiter of fd, on every worker, with bad_file_descriptor and
// forgets its registration; the caller then closes fd. Any thread.
void fd_detach(int fd) noexcept;

// What a close of fd must do first, whoever closes it (the hooked close,
// weft::fs): forgets the hooks' view of it (flags, timeouts) and detaches it.
void fd_forget(int fd) noexcept;

// Closes fd through weft: fd_detach, then close(2) — or, while io_uring
// requests of the ring path are in flight on fd, cancels them and leaves the
// close to the end of the last one (fd_ring_end). Any thread.
void fd_close(int fd) noexcept;

// Around a request of the calling fiber on fd in its worker's ring `r`: false
// (nothing counted) when fd is not open, or has requests in flight in another
// ring; the caller then waits for readiness instead.
bool fd_ring_begin(int fd, reactor* r) noexcept;
// After the request's completion: true when fd was closed meanwhile (and the
// close deferred to here is now done).
bool fd_ring_end(int fd) noexcept;

// The worker holding `from` feeds its backend's events here.
void fd_dispatch(const io_event* events, std::size_t n) noexcept;

}  // namespace weft::detail
