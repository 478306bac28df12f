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

inline std::error_code begin_socket_call(std::int64_t& deadline_ns) {
    return begin_blocking(deadline_ns, "a blocking socket call");
}

// op() returns >= 0 on success or -1 with errno set. Cancellation and a passed
// deadline are checked first, so they fail even a call that could complete.
template <class Op>
long io_retry(int fd, bool write, std::int64_t deadline_ns, std::error_code& ec, Op op) {
    if (fd < 0) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return -1;
    }
    std::int64_t d = deadline_ns;
    if ((ec = begin_socket_call(d))) return -1;
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
        if ((ec = fd_wait(fd, write, ticket, d))) return -1;
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
