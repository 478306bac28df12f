// Classification of fds and the two ways of waiting behind every hooked call.
#include "hook/wait.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <system_error>

#include "hook/sys.hpp"

namespace weft::detail::hook {

namespace {
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
    struct stat sb;
    if (fd > 2 && sys::fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
        const long fl = sys::fcntl(fd, F_GETFL, 0);
        if (fl >= 0 && !(fl & O_NONBLOCK) && sys::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0) f |= fd_flag::managed;
    }
    // Keep a registration the hooks made earlier (an fd polled before it was classified).
    st->flags.fetch_or(f, std::memory_order_acq_rel);
    return st->flags.load(std::memory_order_acquire);
}

void record_new_fd(int fd, bool nonblock_underneath, bool user_nonblock) noexcept {
    fd_state* st = fd_table::get(fd);
    if (!st) return;
    if (user_nonblock) {
        st->reset(fd_flag::known);
    } else if (nonblock_underneath) {
        st->reset(fd_flag::known | fd_flag::managed);
    } else {
        st->reset(0);  // classified on first use from a fiber
    }
}

std::int64_t deadline_after(std::int64_t timeout_ns) noexcept {
    return timeout_ns > 0 ? steady_now_ns() + timeout_ns : no_deadline;
}

int park_on_fd(worker& w, int fd, fd_state* st, bool write, std::int64_t deadline_ns) noexcept {
    if (!st) return EBADF;
    if (!(st->flags.load(std::memory_order_acquire) & fd_flag::registered) ||
        st->owner.load(std::memory_order_acquire) != &w) {
        if (std::error_code ec = w.io_register(fd)) return to_errno(ec);
        st->owner.store(&w, std::memory_order_release);
        st->flags.fetch_or(fd_flag::registered, std::memory_order_acq_rel);
    }
    std::error_code ec = w.io_wait(fd, write, deadline_ns);
    if (ec == std::errc::bad_file_descriptor && sys::fcntl(fd, F_GETFD, 0) >= 0) {
        // The fd is open, yet the worker does not know it: the record names
        // an earlier worker that lived at the same address (weft::run called
        // again on this thread). Register with this one and wait again.
        if ((ec = w.io_register(fd))) return to_errno(ec);
        ec = w.io_wait(fd, write, deadline_ns);
    }
    if (!ec) return 0;
    if (ec == std::errc::device_or_resource_busy) {
        // Another fiber already waits on fd in this direction (say, several
        // fibers in accept() on one listener): the reactor keeps one waiter
        // per direction, so this one looks again after a short sleep.
        const std::int64_t soon = steady_now_ns() + 1'000'000;
        return park_until(w, soon < deadline_ns ? soon : deadline_ns);
    }
    return to_errno(ec);
}

int park_until(worker& w, std::int64_t deadline_ns) noexcept {
    std::error_code ec;
    try {
        ec = w.sleep_until(deadline_ns);
    } catch (...) {
        return ENOMEM;  // the timer could not be queued
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
