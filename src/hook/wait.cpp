// Classification of fds and the two ways of waiting behind every hooked call.
#include "hook/wait.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <system_error>

#include "hook/sys.hpp"
#include "weft/this_fiber.hpp"

namespace weft::detail::hook {

namespace {
// The memory devices that answer at once (null, zero, full, random,
// urandom): not worth a trip through the ring. /dev/kmsg (1:11) can wait.
bool never_blocks(dev_t rdev) noexcept {
    if (major(rdev) != 1) return false;
    const unsigned m = minor(rdev);
    return m == 3 || m == 5 || m == 7 || m == 8 || m == 9;
}

int to_errno(const std::error_code& ec) noexcept {
    // The worker reports generic-category codes, whose values are errno values.
    return ec.value() != 0 ? ec.value() : EIO;
}
}  // namespace

std::uint32_t classify(int fd, fd_state*& st) noexcept {
    st = fd_table::find(fd);
    std::uint32_t f = st ? st->flags.load(std::memory_order_acquire) : 0;
    if (f & fd_flag::known) return f;
    if (!st && !(st = fd_table::get(fd))) return 0;
    f = fd_flag::known;
    // Nothing is changed in the kernel: a socket's file description may be
    // shared (stdin of an inetd-style server, a dup in another process).
    struct stat sb;
    const bool known_type = sys::fstat(fd, &sb) == 0;
    if (known_type && (S_ISSOCK(sb.st_mode) || S_ISFIFO(sb.st_mode))) {
        const long fl = sys::fcntl(fd, F_GETFL, 0);
        if (fl >= 0 && !(fl & O_NONBLOCK)) f |= fd_flag::per_call | (S_ISFIFO(sb.st_mode) ? fd_flag::pipe : 0);
    } else if (known_type && (S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode) || S_ISCHR(sb.st_mode))) {
        // O_NONBLOCK on a file or device stays the kernel's business: the
        // ring would turn it into EAGAIN where a read of a regular file waits.
        const long fl = sys::fcntl(fd, F_GETFL, 0);
        if (fl >= 0 && !(fl & O_NONBLOCK)) {
            if (!S_ISCHR(sb.st_mode)) {
                f |= fd_flag::file;
            } else if (!never_blocks(sb.st_rdev)) {
                f |= fd_flag::chardev;
            }
        }
    }
    st->flags.fetch_or(f, std::memory_order_acq_rel);
    return st->flags.load(std::memory_order_acquire);
}

void record_new_fd(int fd, bool per_call, bool user_nonblock) noexcept {
    fd_state* st = fd_table::get(fd);
    if (!st) return;
    fd_attach(fd);  // a new file: waiters left on an old one of this number end
    if (user_nonblock) {
        st->reset(fd_flag::known);
    } else if (per_call) {
        st->reset(fd_flag::known | fd_flag::per_call);
    } else {
        st->reset(0);  // classified on first use from a fiber
    }
}

std::uint32_t make_nonblocking_underneath(int fd, fd_state* st, std::uint32_t flags) noexcept {
    if (!st || !(flags & fd_flag::per_call) || (flags & fd_flag::user_nonblock)) return flags;
    const long fl = sys::fcntl(fd, F_GETFL, 0);
    if (fl < 0 || sys::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return flags;
    st->flags.fetch_or(fd_flag::managed, std::memory_order_acq_rel);
    st->flags.fetch_and(~(fd_flag::per_call | fd_flag::pipe), std::memory_order_acq_rel);
    return st->flags.load(std::memory_order_acquire);
}

std::int64_t deadline_after(std::int64_t timeout_ns) noexcept {
    return timeout_ns > 0 ? deadline_after_ns(timeout_ns) : no_deadline;
}

int park_on_fd(worker&, int fd, bool write, std::uint32_t ticket, std::int64_t deadline_ns,
               wait_reason why) noexcept {
    std::error_code ec;
    try {
        // Open, yet not attached: made by a call the hooks do not see (or
        // closed and made again behind them). Adopt it. A wait that a close
        // ends reports EBADF and is not retried.
        if (!fd_attached(fd) && sys::fcntl(fd, F_GETFD, 0) >= 0) {
            if ((ec = fd_attach(fd))) return to_errno(ec);
        }
        ec = fd_wait(fd, write, ticket, deadline_ns, why);
    } catch (...) {
        return ENOMEM;  // the worker's reactor could not be made
    }
    return ec ? to_errno(ec) : 0;
}

int park_until(worker&, std::int64_t deadline_ns) noexcept {
    std::error_code ec;
    try {
        ec = sleep_until_steady_ns(deadline_ns);
    } catch (...) {
        return ENOMEM;
    }
    return ec ? to_errno(ec) : 0;
}

int thread_wait_fd(int fd, bool write, std::int64_t deadline_ns) noexcept {
    pollfd p{fd, static_cast<short>(write ? POLLOUT : POLLIN), 0};
    for (;;) {
        timespec ts{};
        timespec* tsp = nullptr;
        if (deadline_ns != no_deadline) {
            const std::int64_t left = deadline_ns - steady_now_ns();
            if (left <= 0) return ETIMEDOUT;
            ts.tv_sec = static_cast<time_t>(left / 1'000'000'000);
            ts.tv_nsec = static_cast<long>(left % 1'000'000'000);
            tsp = &ts;
        }
        const long r = sys::ppoll(&p, 1, tsp, nullptr);
        if (r > 0) return (p.revents & POLLNVAL) ? EBADF : 0;
        if (r < 0 && errno != EINTR) return errno;
    }
}

}  // namespace weft::detail::hook
