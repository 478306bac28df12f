// The one retry loop behind every blocking socket call: try the syscall, and
// wait on the poller only when it says EAGAIN.
#pragma once

#include <cerrno>
#include <cstdint>
#include <system_error>

#include "common/assert.hpp"
#include "reactor/poller.hpp"
#include "sched/wait.hpp"

namespace weft::detail {

// For a call that always waits (a lookup, a TLS handshake): fails with
// operation_canceled or timed_out before it starts if it must not even start.
inline std::error_code begin_socket_call(std::int64_t& deadline_ns) {
    return begin_blocking(deadline_ns, "a blocking socket call");
}

// op() returns >= 0 on success or -1 with errno set. The rule of every socket
// call (weft/net/stream.hpp): the I/O comes first, as a channel's try does,
// so a call that can complete without waiting succeeds even when its
// deadline (or deadline_scope) has passed or the fiber was canceled; only
// the wait checks them (fd_wait), so only a call that would wait fails.
template <class Op>
long io_retry(int fd, bool write, std::int64_t deadline_ns, std::error_code& ec, Op op) {
    if (fd < 0) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return -1;
    }
    require_fiber("a blocking socket call");
    for (;;) {
        const std::uint32_t ticket = fd_ticket(fd, write);
        const long n = op();
        if (n >= 0) {
            ec.clear();
            return n;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            ec = std::error_code(errno, std::generic_category());
            return -1;
        }
        if ((ec = fd_wait(fd, write, ticket, deadline_ns))) return -1;
    }
}

// A new non-blocking socket, attached to the poller.
int open_socket(int family, int type, std::error_code& ec);
// Attaches an fd that is already non-blocking; closes it on failure.
bool register_fd(int fd, std::error_code& ec);
// Wakes every fiber waiting on fd, on any worker, with bad_file_descriptor,
// then closes it. Any thread.
void close_fd(int fd) noexcept;

}  // namespace weft::detail
