// Hooked fd bookkeeping: close and dup keep the fd table right, fcntl and
// ioctl(FIONBIO) show the caller its own O_NONBLOCK, setsockopt records
// SO_RCVTIMEO/SO_SNDTIMEO as deadlines for the hooked waits.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdarg>

#include "hook/sys.hpp"
#include "hook/wait.hpp"

namespace weft::detail::hook {
namespace {

// Forgets what weft knew of fd before it is closed: every fiber waiting on
// it, on any worker, wakes with EBADF; the caller then closes it.
void forget(int fd) noexcept { fd_forget(fd); }

void copy_state(int from, int to) noexcept {
    const fd_state* src = fd_table::find(from);
    fd_state* dst = src ? fd_table::get(to) : fd_table::find(to);
    if (!dst) return;
    if (src) {
        dst->copy_from(*src);
    } else {
        dst->reset(0);
    }
}

// F_SETFL / FIONBIO: on a managed fd only the caller's view changes (the fd
// stays non-blocking underneath). Returns false when fd is not managed.
bool set_user_nonblock(int fd, bool on) noexcept {
    fd_state* st = fd_table::find(fd);
    if (!st || !(st->flags.load(std::memory_order_acquire) & fd_flag::managed)) return false;
    if (on) {
        st->flags.fetch_or(fd_flag::user_nonblock, std::memory_order_acq_rel);
    } else {
        st->flags.fetch_and(~fd_flag::user_nonblock, std::memory_order_acq_rel);
    }
    return true;
}

// The caller changed O_NONBLOCK of an fd the hooks do not manage: look at it
// again on its next use from a fiber (its waits and registration stay).
void reclassify(int fd) noexcept {
    if (fd_state* st = fd_table::find(fd)) st->flags.store(0, std::memory_order_release);
}

int fcntl_impl(int fd, int cmd, long arg) noexcept {
    switch (cmd) {
        case F_GETFL: {
            const long r = sys::fcntl(fd, cmd, arg);
            const fd_state* st = fd_table::find(fd);
            if (r >= 0 && st && fd_state::hooks_wait(st->flags.load(std::memory_order_acquire)))
                return static_cast<int>(r & ~O_NONBLOCK);
            return static_cast<int>(r);
        }
        case F_SETFL: {
            const fd_state* st = fd_table::find(fd);
            if (st && (st->flags.load(std::memory_order_acquire) & fd_flag::managed)) {
                const long r = sys::fcntl(fd, cmd, arg | O_NONBLOCK);
                if (r == 0) set_user_nonblock(fd, (arg & O_NONBLOCK) != 0);
                return static_cast<int>(r);
            }
            const long r = sys::fcntl(fd, cmd, arg);
            if (r == 0) reclassify(fd);
            return static_cast<int>(r);
        }
        case F_DUPFD:
        case F_DUPFD_CLOEXEC: {
            const long r = sys::fcntl(fd, cmd, arg);
            if (r >= 0) copy_state(fd, static_cast<int>(r));
            return static_cast<int>(r);
        }
        default:
            return static_cast<int>(sys::fcntl(fd, cmd, arg));
    }
}

bool is_recv_timeout(int name) noexcept {
#ifdef SO_RCVTIMEO_NEW
    if (name == SO_RCVTIMEO_NEW) return true;
#endif
    return name == SO_RCVTIMEO;
}

bool is_send_timeout(int name) noexcept {
#ifdef SO_SNDTIMEO_NEW
    if (name == SO_SNDTIMEO_NEW) return true;
#endif
    return name == SO_SNDTIMEO;
}

std::int64_t timeval_ns(const void* val, socklen_t len) noexcept {
    if (!val || len < static_cast<socklen_t>(sizeof(timeval))) return 0;
    const auto* tv = static_cast<const timeval*>(val);
    return static_cast<std::int64_t>(tv->tv_sec) * 1'000'000'000 + static_cast<std::int64_t>(tv->tv_usec) * 1000;
}

}  // namespace
}  // namespace weft::detail::hook

using namespace weft::detail;
using namespace weft::detail::hook;

extern "C" {

int close(int fd) {
    forget(fd);
    return static_cast<int>(sys::close(fd));
}

int dup(int fd) {
    const long r = sys::dup(fd);
    if (r >= 0) copy_state(fd, static_cast<int>(r));
    return static_cast<int>(r);
}

int dup3(int from, int to, int flags) {
    if (from == to) {
        errno = EINVAL;
        return -1;
    }
    // `to` is closed by the kernel: the worker must forget it first.
    if (sys::fcntl(from, F_GETFD, 0) >= 0) forget(to);
    const long r = sys::dup3(from, to, flags);
    if (r >= 0) copy_state(from, to);
    return static_cast<int>(r);
}

int dup2(int from, int to) {
    if (from == to) return sys::fcntl(from, F_GETFD, 0) < 0 ? -1 : to;
    return dup3(from, to, 0);
}

int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void* arg = va_arg(ap, void*);  // as glibc does: every argument fits a pointer
    va_end(ap);
    return fcntl_impl(fd, cmd, reinterpret_cast<long>(arg));
}

int fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    return fcntl_impl(fd, cmd, reinterpret_cast<long>(arg));
}

int ioctl(int fd, unsigned long request, ...) {
    va_list ap;
    va_start(ap, request);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    if (request == FIONBIO && arg) {
        const bool on = *static_cast<int*>(arg) != 0;
        if (set_user_nonblock(fd, on)) return 0;
        const long r = sys::ioctl(fd, request, arg);
        if (r == 0) reclassify(fd);
        return static_cast<int>(r);
    }
    return static_cast<int>(sys::ioctl(fd, request, arg));
}

int setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
    const long r = sys::setsockopt(fd, level, name, val, len);
    if (r == 0 && level == SOL_SOCKET && (is_recv_timeout(name) || is_send_timeout(name))) {
        // The kernel keeps the value too (getsockopt reports it), but its
        // timeouts never fire on a non-blocking fd: the hooked waits use it.
        if (fd_state* st = fd_table::get(fd))
            (is_recv_timeout(name) ? st->recv_timeout_ns : st->send_timeout_ns)
                .store(timeval_ns(val, len), std::memory_order_relaxed);
    }
    return static_cast<int>(r);
}

int getsockopt(int fd, int level, int name, void* __restrict val, socklen_t* __restrict len) {
    return static_cast<int>(sys::getsockopt(fd, level, name, val, len));
}

}  // extern "C"
