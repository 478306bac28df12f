// The real calls behind every hook: straight to the kernel with syscall(2), so
// the hooks never depend on finding libc's own symbol (static or dynamic link).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <csignal>

// glibc's fortify failure ("*** buffer overflow detected ***"), for the _chk hooks.
extern "C" [[noreturn]] void __chk_fail(void);

namespace weft::detail::sys {

// The kernel's sigset size, not glibc's 128-byte sigset_t.
inline constexpr long kernel_sigset_size = _NSIG / 8;

inline long read(int fd, void* buf, std::size_t n) noexcept { return ::syscall(SYS_read, fd, buf, n); }
inline long write(int fd, const void* buf, std::size_t n) noexcept { return ::syscall(SYS_write, fd, buf, n); }
inline long readv(int fd, const iovec* iov, int cnt) noexcept { return ::syscall(SYS_readv, fd, iov, cnt); }
inline long writev(int fd, const iovec* iov, int cnt) noexcept { return ::syscall(SYS_writev, fd, iov, cnt); }
// At the file position (offset -1), as read/readv and write/writev do; the
// offset goes in two halves, and a 64-bit kernel takes the low one whole.
inline long preadv2(int fd, const iovec* iov, int cnt, int flags) noexcept {
    return ::syscall(SYS_preadv2, fd, iov, cnt, -1L, 0L, flags);
}
inline long pwritev2(int fd, const iovec* iov, int cnt, int flags) noexcept {
    return ::syscall(SYS_pwritev2, fd, iov, cnt, -1L, 0L, flags);
}
inline long pread64(int fd, void* buf, std::size_t n, long offset) noexcept {
    return ::syscall(SYS_pread64, fd, buf, n, offset);
}
inline long pwrite64(int fd, const void* buf, std::size_t n, long offset) noexcept {
    return ::syscall(SYS_pwrite64, fd, buf, n, offset);
}
// At an offset (-1: the file position, as above).
inline long preadv2_at(int fd, const iovec* iov, int cnt, long offset, int flags) noexcept {
    return ::syscall(SYS_preadv2, fd, iov, cnt, offset, 0L, flags);
}
inline long pwritev2_at(int fd, const iovec* iov, int cnt, long offset, int flags) noexcept {
    return ::syscall(SYS_pwritev2, fd, iov, cnt, offset, 0L, flags);
}
inline long recvfrom(int fd, void* buf, std::size_t n, int flags, sockaddr* from, socklen_t* len) noexcept {
    return ::syscall(SYS_recvfrom, fd, buf, n, flags, from, len);
}
inline long sendto(int fd, const void* buf, std::size_t n, int flags, const sockaddr* to, socklen_t len) noexcept {
    return ::syscall(SYS_sendto, fd, buf, n, flags, to, len);
}
inline long recvmsg(int fd, msghdr* msg, int flags) noexcept { return ::syscall(SYS_recvmsg, fd, msg, flags); }
inline long sendmsg(int fd, const msghdr* msg, int flags) noexcept { return ::syscall(SYS_sendmsg, fd, msg, flags); }
inline long accept4(int fd, sockaddr* addr, socklen_t* len, int flags) noexcept {
    return ::syscall(SYS_accept4, fd, addr, len, flags);
}
inline long connect(int fd, const sockaddr* addr, socklen_t len) noexcept { return ::syscall(SYS_connect, fd, addr, len); }
inline long socket(int domain, int type, int protocol) noexcept { return ::syscall(SYS_socket, domain, type, protocol); }
inline long close(int fd) noexcept { return ::syscall(SYS_close, fd); }
inline long dup(int fd) noexcept { return ::syscall(SYS_dup, fd); }
inline long dup3(int from, int to, int flags) noexcept { return ::syscall(SYS_dup3, from, to, flags); }
inline long fcntl(int fd, int cmd, long arg) noexcept { return ::syscall(SYS_fcntl, fd, cmd, arg); }
inline long ioctl(int fd, unsigned long req, void* arg) noexcept { return ::syscall(SYS_ioctl, fd, req, arg); }
inline long setsockopt(int fd, int level, int name, const void* val, socklen_t len) noexcept {
    return ::syscall(SYS_setsockopt, fd, level, name, val, len);
}
inline long getsockopt(int fd, int level, int name, void* val, socklen_t* len) noexcept {
    return ::syscall(SYS_getsockopt, fd, level, name, val, len);
}
inline long fstat(int fd, struct stat* st) noexcept { return ::syscall(SYS_fstat, fd, st); }
// poll, select and epoll_wait have no syscall of their own on aarch64: use the p- forms everywhere.
inline long ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) noexcept {
    return ::syscall(SYS_ppoll, fds, n, ts, mask, kernel_sigset_size);
}
inline long pselect6(int n, fd_set* r, fd_set* w, fd_set* e, timespec* ts, const sigset_t* mask) noexcept {
    // The sixth argument is a {sigset pointer, size} pair.
    struct {
        const sigset_t* set;
        std::size_t size;
    } data{mask, static_cast<std::size_t>(kernel_sigset_size)};
    return ::syscall(SYS_pselect6, n, r, w, e, ts, mask ? &data : nullptr);
}
inline long epoll_pwait(int epfd, epoll_event* ev, int max, int timeout_ms, const sigset_t* mask) noexcept {
    return ::syscall(SYS_epoll_pwait, epfd, ev, max, timeout_ms, mask, kernel_sigset_size);
}
inline long epoll_create1(int flags) noexcept { return ::syscall(SYS_epoll_create1, flags); }
inline long epoll_ctl(int epfd, int op, int fd, epoll_event* ev) noexcept {
    return ::syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}
inline long nanosleep(const timespec* req, timespec* rem) noexcept { return ::syscall(SYS_nanosleep, req, rem); }
inline long clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) noexcept {
    return ::syscall(SYS_clock_nanosleep, clock, flags, req, rem);
}

}  // namespace weft::detail::sys
