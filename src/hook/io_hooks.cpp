// Hooked socket I/O: read/write and their socket and vector forms, accept,
// connect, socket. On a blocking-looking fd the call is tried first and the
// caller waits (fiber: parks; thread: ppoll) only when the kernel says EAGAIN.
// Sockets stay blocking in the kernel: a fiber's call on one is made
// non-blocking by itself (MSG_DONTWAIT, reads and writes as recv and send),
// so libc's own calls that bypass the hooks (stdio on a socket) and plain
// threads see a blocking socket. Listeners, and a socket while it connects,
// are the exceptions: they are non-blocking underneath. Pipes and FIFOs stay
// blocking too: a fiber's read or write on one is preadv2/pwritev2 with
// RWF_NOWAIT. Regular files, ttys and other character devices keep their
// flags as well. A regular file is tried with RWF_NOWAIT (a page-cache hit
// completes at once); what would wait for the disk goes into the worker's
// io_uring (weft::fs's file calls), or to the offload pool on an epoll
// worker. A tty read is an SQE of the worker's ring (at the file position),
// or on an epoll worker waits for readiness first. Either way only the
// fiber parks.
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fs/file_io.hpp"
#include "hook/sys.hpp"
#include "hook/wait.hpp"
#include "weft/offload.hpp"

namespace weft::detail::hook {
namespace {

// One hooked call on one fd: what the hooks know of it and how to wait.
class blocking_fd {
public:
    explicit blocking_fd(int fd) noexcept : fd_(fd), w_(fiber_worker()) {
        if (w_) {
            flags_ = classify(fd, st_);
        } else {
            st_ = fd_table::find(fd);
            flags_ = st_ ? st_->flags.load(std::memory_order_acquire) : 0;
        }
    }
    // Whether the caller expects blocking behaviour that the kernel will not
    // give. A plain thread on a per_call socket lets the kernel block.
    bool waits() const noexcept {
        return fd_state::hooks_wait(flags_) && (w_ || (flags_ & fd_flag::managed));
    }
    // MSG_DONTWAIT when this fiber's call on a blocking socket must not block.
    int dontwait() const noexcept {
        return w_ && (flags_ & fd_flag::per_call) && !(flags_ & (fd_flag::user_nonblock | fd_flag::pipe))
                   ? MSG_DONTWAIT
                   : 0;
    }
    // A blocking pipe or FIFO on a fiber: its reads and writes go out as
    // preadv2/pwritev2 with RWF_NOWAIT.
    bool pipe_nowait() const noexcept {
        return w_ && (flags_ & fd_flag::pipe) && (flags_ & fd_flag::per_call) && !(flags_ & fd_flag::user_nonblock);
    }
    // The kernel refused RWF_NOWAIT (EOPNOTSUPP: a FIFO opened by path): the
    // fd becomes non-blocking underneath instead.
    void nowait_refused() noexcept { flags_ = make_nonblocking_underneath(fd_, st_, flags_); }
    // Accept has no per-call form: a listener becomes non-blocking underneath.
    void for_accept() noexcept {
        if (w_) flags_ = make_nonblocking_underneath(fd_, st_, flags_);
    }

    // Waits for readiness after EAGAIN. False with errno set when the wait
    // failed: EAGAIN when the fd's own SO_RCVTIMEO/SO_SNDTIMEO ran out (what
    // the kernel reports for a blocking socket), else ETIMEDOUT (a
    // deadline_scope), ECANCELED, EBADF.
    bool wait(bool write, std::uint32_t ticket) noexcept {
        if (!deadline_set_[write]) {
            timeout_ns_[write] = (write ? st_->send_timeout_ns : st_->recv_timeout_ns).load(std::memory_order_relaxed);
            deadline_[write] = deadline_after(timeout_ns_[write]);
            deadline_set_[write] = true;
        }
        const int err = w_ ? park_on_fd(*w_, fd_, write, ticket, deadline_[write])
                           : thread_wait_fd(fd_, write, deadline_[write]);
        if (err == 0) return true;
        errno = err;
        if (err == ETIMEDOUT && timeout_ns_[write] > 0 && steady_now_ns() >= deadline_[write]) errno = EAGAIN;
        return false;
    }

    // op() is the raw syscall: >= 0, or -1 with errno.
    template <class Op>
    long call(bool write, Op op) noexcept {
        for (;;) {
            const std::uint32_t ticket = fd_ticket(fd_, write);
            const long n = op();
            if (n >= 0 || errno != EAGAIN || !waits()) return n;
            if (!wait(write, ticket)) return -1;
        }
    }

    bool on_fiber() const noexcept { return w_ != nullptr; }

    // A regular file (or block device) on a fiber: a candidate for the ring.
    bool file() const noexcept { return w_ && (flags_ & fd_flag::file); }
    // A tty or another character device that can block, on a fiber.
    bool chardev() const noexcept { return w_ && (flags_ & fd_flag::chardev); }

    // Waits, on an epoll worker, until the character device is ready for the
    // call: the call itself then does not wait unless another reader took
    // the input in between (a tty refuses RWF_NOWAIT, and its O_NONBLOCK is
    // shared with every process that has it open, so neither can make the
    // call itself non-blocking). False with errno set: the wait ended by a
    // deadline_scope (ETIMEDOUT), cancel (ECANCELED) or close (EBADF). A
    // device the poller cannot watch is left to the call.
    bool wait_ready(bool write) noexcept {
        for (;;) {
            const std::uint32_t ticket = fd_ticket(fd_, write);
            pollfd p{fd_, static_cast<short>(write ? POLLOUT : POLLIN), 0};
            const timespec zero{0, 0};
            if (sys::ppoll(&p, 1, &zero, nullptr) != 0) return true;  // ready, hung up, or the call's own error
            if (wait(write, ticket)) continue;
            return errno != ETIMEDOUT && errno != ECANCELED && errno != EBADF && errno != EAGAIN;
        }
    }

private:
    int fd_;
    worker* w_;
    fd_state* st_ = nullptr;
    std::uint32_t flags_ = 0;
    bool deadline_set_[2] = {false, false};
    std::int64_t timeout_ns_[2] = {0, 0};
    std::int64_t deadline_[2] = {0, 0};
};

// A blocking stream write returns only when everything went out (or an error
// or timeout stops it, then with what went out so far); keep writing.
template <class Op>  // op(std::size_t done) -> long
long write_all(blocking_fd& b, std::size_t total, Op op) noexcept {
    if (!b.waits()) return op(0);
    std::size_t done = 0;
    do {
        const long n = b.call(true, [&] { return op(done); });
        if (n < 0) return done > 0 ? static_cast<long>(done) : -1;
        done += static_cast<std::size_t>(n);
    } while (done < total);
    return static_cast<long>(done);
}

// Vector writes: the same, advancing a private copy of the iovecs.
template <class Op>  // op(const iovec*, int) -> long
long writev_all(blocking_fd& b, const iovec* iov, int cnt, Op op) noexcept {
    if (!b.waits() || cnt <= 0 || cnt > IOV_MAX) return b.call(true, [&] { return op(iov, cnt); });
    iovec local[IOV_MAX];
    std::memcpy(local, iov, sizeof(iovec) * static_cast<std::size_t>(cnt));
    std::size_t total = 0;
    for (int i = 0; i < cnt; ++i) total += local[i].iov_len;
    std::size_t done = 0;
    int first = 0;
    for (;;) {
        const long n = b.call(true, [&] { return op(local + first, cnt - first); });
        if (n < 0) return done > 0 ? static_cast<long>(done) : -1;
        done += static_cast<std::size_t>(n);
        if (done >= total) return static_cast<long>(done);
        auto left = static_cast<std::size_t>(n);
        while (first < cnt && left >= local[first].iov_len) left -= local[first++].iov_len;
        local[first].iov_base = static_cast<char*>(local[first].iov_base) + left;
        local[first].iov_len -= left;
    }
}

// One call on a regular file or character device through the worker's
// io_uring (see fs/file_io.hpp). False when the ring does not take it (an
// epoll worker, a full ring, a file the ring cannot read such as a
// directory): the caller makes the plain call. Else r is what the
// syscall returns: bytes (a write stopped by an error after some bytes
// reports those bytes, as the kernel's own write does), or -1 with errno.
// EINTR never comes out: the ring's request is not interrupted by signals.
// weft's file calls report a write that reaches RLIMIT_FSIZE as EFBIG alone
// (the ring's way; see fs/file.cpp). The plain write(2) also raises SIGXFSZ
// on its thread, whose default ends the process: a hooked write that fails
// so raises it too, as the call it stands for would.
void failed_as_plain(file_op op, int err) noexcept {
    if (err == EFBIG && (op == file_op::write_all || op == file_op::pwrite_all || op == file_op::writev))
        pthread_kill(pthread_self(), SIGXFSZ);
}

bool ring_call(file_op op, int fd, void* data, std::size_t size, std::uint64_t offset, long& r) noexcept {
    file_call_args a{op, fd, data, size, offset, 0, 0};
    try {
        if (!ring_file_call(a)) return false;
    } catch (...) {
        return false;  // the reactor could not be made: the plain call
    }
    if (a.err && a.done == 0) {
        failed_as_plain(op, a.err);
        errno = a.err;
        r = -1;
    } else {
        r = static_cast<long>(a.done);
    }
    return true;
}

// A read or write at the file position on a file or character device:
// through the ring, else (epoll) a character device waits for readiness
// first. `plain` is the blocking syscall.
template <class Plain>
long device_call(blocking_fd& b, bool write, file_op op, int fd, void* data, std::size_t size, Plain plain) noexcept {
    long r;
    if (b.chardev() && write) {
        // A terminal takes output at once nearly always: write when it has
        // room (also what a signal handler's message to stderr needs: no
        // park inside the handler), and only a full device goes the slow way.
        pollfd p{fd, POLLOUT, 0};
        const timespec zero{0, 0};
        if (sys::ppoll(&p, 1, &zero, nullptr) != 0) return plain();
    }
    if (ring_call(op, fd, data, size, static_cast<std::uint64_t>(-1), r)) return r;
    if (b.chardev() && !b.wait_ready(write)) return -1;
    return plain();
}

// A read or write of a regular file, at the file position (offset -1) or
// at an offset: first with RWF_NOWAIT, which a page-cache hit completes at
// once (no park; it costs what the plain call costs); what would wait for
// the disk (EAGAIN) goes, for the bytes still to move, through the worker's
// ring, or on an epoll worker to the offload pool (a disk read takes far
// longer than the trip). A read ends at EOF or when bytes are in hand after a
// wait, as read(2) of a regular file does; a write moves everything unless an
// error stops it (then it reports what it moved). Where the file system
// refuses RWF_NOWAIT the ring takes the call, else the plain call.
template <class Plain>
long file_rw(bool write, int fd, char* p, std::size_t n, long offset, Plain plain) noexcept {
    std::size_t done = 0;
    for (;;) {
        const iovec v{p + done, n - done};
        const long at = offset < 0 ? -1L : offset + static_cast<long>(done);
        const long r = write ? sys::pwritev2_at(fd, &v, 1, at, RWF_NOWAIT) : sys::preadv2_at(fd, &v, 1, at, RWF_NOWAIT);
        if (r > 0) {
            done += static_cast<std::size_t>(r);
            if (done < n) continue;  // what was cached, then the rest
            return static_cast<long>(done);
        }
        if (r == 0) return static_cast<long>(done);  // EOF (or nothing asked)
        if (done > 0 && errno != EAGAIN) return static_cast<long>(done);
        const file_op op = write ? (offset < 0 ? file_op::write_all : file_op::pwrite_all)
                                 : (offset < 0 ? file_op::read : file_op::pread);
        const std::uint64_t off = offset < 0 ? static_cast<std::uint64_t>(-1) : static_cast<std::uint64_t>(at);
        const int why = errno;
        long rest;
        if (ring_call(op, fd, p + done, n - done, off, rest)) {
            if (rest < 0) return done > 0 ? static_cast<long>(done) : -1;
            return static_cast<long>(done) + rest;
        }
        if (why == EAGAIN) {
            // An epoll worker: an offload thread waits for the disk instead.
            file_call_args a{op, fd, p + done, n - done, off, 0, 0};
            bool ran = true;
            try {
                offload_run([](void* x) noexcept { file_call_sync(*static_cast<file_call_args*>(x)); }, &a);
            } catch (...) {
                ran = false;  // the pool could not start its threads: the plain call
            }
            if (ran) {
                if (a.err && done + a.done == 0) {
                    failed_as_plain(op, a.err);
                    errno = a.err;
                    return -1;
                }
                return static_cast<long>(done + a.done);
            }
        }
        if (done > 0) return static_cast<long>(done);
        return plain();
    }
}

long recv_impl(int fd, void* buf, std::size_t n, int flags, sockaddr* from, socklen_t* len) noexcept {
    if (flags & MSG_DONTWAIT) return sys::recvfrom(fd, buf, n, flags, from, len);
    blocking_fd b(fd);
    const socklen_t len0 = len ? *len : 0;
    const int f = flags | b.dontwait();
    auto once = [&](std::size_t done) {
        return b.call(false, [&] {
            if (len) *len = len0;
            return sys::recvfrom(fd, static_cast<char*>(buf) + done, n - done, f, from, len);
        });
    };
    if (!(flags & MSG_WAITALL) || !b.waits()) return once(0);
    // MSG_WAITALL on a non-blocking socket returns what is there: gather the rest.
    std::size_t done = 0;
    while (done < n) {
        const long r = once(done);
        if (r < 0) return done > 0 ? static_cast<long>(done) : -1;
        if (r == 0) break;
        done += static_cast<std::size_t>(r);
    }
    return static_cast<long>(done);
}

long send_impl(int fd, const void* buf, std::size_t n, int flags, const sockaddr* to, socklen_t len) noexcept {
    if (flags & MSG_DONTWAIT) return sys::sendto(fd, buf, n, flags, to, len);
    blocking_fd b(fd);
    const int f = flags | b.dontwait();
    return write_all(b, n, [&](std::size_t done) {
        return sys::sendto(fd, static_cast<const char*>(buf) + done, n - done, f, to, len);
    });
}

int accept_impl(int fd, sockaddr* addr, socklen_t* len, int flags) noexcept {
    blocking_fd b(fd);
    b.for_accept();
    const socklen_t len0 = len ? *len : 0;
    const long r = b.call(false, [&] {
        if (len) *len = len0;
        return sys::accept4(fd, addr, len, flags);
    });
    if (r >= 0) record_new_fd(static_cast<int>(r), b.on_fiber(), (flags & SOCK_NONBLOCK) != 0);
    return static_cast<int>(r);
}

// connect on a socket that is non-blocking now: a connect in progress is
// waited for as the caller's blocking connect would be.
int connect_waiting(blocking_fd& b, int fd, const sockaddr* addr, socklen_t len) noexcept {
    std::uint32_t ticket = fd_ticket(fd, true);
    long r = sys::connect(fd, addr, len);
    if (r == 0 || errno != EINPROGRESS || !b.waits()) return static_cast<int>(r);
    for (;;) {
        if (!b.wait(true, ticket)) {
            // A blocking connect that runs out of SO_SNDTIMEO reports EINPROGRESS.
            if (errno == EAGAIN) errno = EINPROGRESS;
            return -1;
        }
        pollfd p{fd, POLLOUT, 0};
        const timespec zero{0, 0};
        ticket = fd_ticket(fd, true);
        if (sys::ppoll(&p, 1, &zero, nullptr) > 0) break;  // else an early wake: wait again
    }
    int err = 0;
    socklen_t l = sizeof err;
    if (sys::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0) return -1;
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

}  // namespace
}  // namespace weft::detail::hook

using namespace weft::detail;
using namespace weft::detail::hook;

extern "C" {

ssize_t read(int fd, void* buf, size_t n) {
    blocking_fd b(fd);
    if (b.pipe_nowait()) {
        const iovec v{buf, n};
        const long r = b.call(false, [&] { return sys::preadv2(fd, &v, 1, RWF_NOWAIT); });
        if (r >= 0 || errno != EOPNOTSUPP) return r;
        b.nowait_refused();
    }
    if (b.dontwait()) return b.call(false, [&] { return sys::recvfrom(fd, buf, n, MSG_DONTWAIT, nullptr, nullptr); });
    if (b.file()) return file_rw(false, fd, static_cast<char*>(buf), n, -1, [&] { return sys::read(fd, buf, n); });
    if (b.chardev()) return device_call(b, false, file_op::read, fd, buf, n, [&] { return sys::read(fd, buf, n); });
    return b.call(false, [&] { return sys::read(fd, buf, n); });
}

ssize_t pread(int fd, void* buf, size_t n, off_t offset) {
    blocking_fd b(fd);
    // A negative offset is the kernel's EINVAL (to the ring, -1 would mean
    // the file position); a tty's ESPIPE is the kernel's too.
    if (b.file() && offset >= 0)
        return file_rw(false, fd, static_cast<char*>(buf), n, offset, [&] { return sys::pread64(fd, buf, n, offset); });
    return sys::pread64(fd, buf, n, offset);
}

ssize_t pread64(int fd, void* buf, size_t n, off64_t offset) { return pread(fd, buf, n, offset); }

ssize_t __pread_chk(int fd, void* buf, size_t n, off_t offset, size_t buflen) {
    if (n > buflen) __chk_fail();
    return pread(fd, buf, n, offset);
}

ssize_t __pread64_chk(int fd, void* buf, size_t n, off64_t offset, size_t buflen) {
    if (n > buflen) __chk_fail();
    return pread(fd, buf, n, offset);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
    blocking_fd b(fd);
    if (b.file() && offset >= 0) {
        return file_rw(true, fd, static_cast<char*>(const_cast<void*>(buf)), n, offset,
                       [&] { return sys::pwrite64(fd, buf, n, offset); });
    }
    return sys::pwrite64(fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t offset) { return pwrite(fd, buf, n, offset); }

ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
    if (n > buflen) __chk_fail();
    return read(fd, buf, n);
}

ssize_t readv(int fd, const iovec* iov, int cnt) {
    blocking_fd b(fd);
    if (b.pipe_nowait()) {
        const long r = b.call(false, [&] { return sys::preadv2(fd, iov, cnt, RWF_NOWAIT); });
        if (r >= 0 || errno != EOPNOTSUPP) return r;
        b.nowait_refused();
    }
    if (b.dontwait() && cnt > 0 && cnt <= IOV_MAX) {
        return b.call(false, [&] {
            msghdr m{};
            m.msg_iov = const_cast<iovec*>(iov);
            m.msg_iovlen = static_cast<std::size_t>(cnt);
            return sys::recvmsg(fd, &m, MSG_DONTWAIT);
        });
    }
    if (b.file() || b.chardev()) {
        return device_call(b, false, file_op::readv, fd, const_cast<iovec*>(iov), cnt < 0 ? SIZE_MAX : cnt,
                           [&] { return sys::readv(fd, iov, cnt); });
    }
    return b.call(false, [&] { return sys::readv(fd, iov, cnt); });
}

ssize_t write(int fd, const void* buf, size_t n) {
    blocking_fd b(fd);
    if (b.pipe_nowait()) {
        // A write of up to PIPE_BUF bytes stays atomic: RWF_NOWAIT fails it
        // whole (EAGAIN) rather than writing part of it.
        const long r = write_all(b, n, [&](std::size_t done) {
            const iovec v{const_cast<char*>(static_cast<const char*>(buf)) + done, n - done};
            return sys::pwritev2(fd, &v, 1, RWF_NOWAIT);
        });
        if (r >= 0 || errno != EOPNOTSUPP) return r;
        b.nowait_refused();
    }
    if (b.dontwait()) {
        // send without MSG_NOSIGNAL raises SIGPIPE as write does.
        return write_all(b, n, [&](std::size_t done) {
            return sys::sendto(fd, static_cast<const char*>(buf) + done, n - done, MSG_DONTWAIT, nullptr, 0);
        });
    }
    if (b.file()) {
        return file_rw(true, fd, static_cast<char*>(const_cast<void*>(buf)), n, -1,
                       [&] { return sys::write(fd, buf, n); });
    }
    if (b.chardev()) {
        return device_call(b, true, file_op::write_all, fd, const_cast<void*>(buf), n,
                           [&] { return sys::write(fd, buf, n); });
    }
    return write_all(b, n, [&](std::size_t done) { return sys::write(fd, static_cast<const char*>(buf) + done, n - done); });
}

ssize_t writev(int fd, const iovec* iov, int cnt) {
    blocking_fd b(fd);
    if (b.pipe_nowait()) {
        const long r = writev_all(b, iov, cnt, [&](const iovec* v, int c) { return sys::pwritev2(fd, v, c, RWF_NOWAIT); });
        if (r >= 0 || errno != EOPNOTSUPP) return r;
        b.nowait_refused();
    }
    if (b.dontwait() && cnt > 0 && cnt <= IOV_MAX) {
        return writev_all(b, iov, cnt, [&](const iovec* v, int c) {
            msghdr m{};
            m.msg_iov = const_cast<iovec*>(v);
            m.msg_iovlen = static_cast<std::size_t>(c);
            return sys::sendmsg(fd, &m, MSG_DONTWAIT);
        });
    }
    if (b.file() || b.chardev()) {
        return device_call(b, true, file_op::writev, fd, const_cast<iovec*>(iov), cnt < 0 ? SIZE_MAX : cnt,
                           [&] { return sys::writev(fd, iov, cnt); });
    }
    return writev_all(b, iov, cnt, [&](const iovec* v, int c) { return sys::writev(fd, v, c); });
}

ssize_t recv(int fd, void* buf, size_t n, int flags) { return recv_impl(fd, buf, n, flags, nullptr, nullptr); }

ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
    if (n > buflen) __chk_fail();
    return recv_impl(fd, buf, n, flags, nullptr, nullptr);
}

ssize_t recvfrom(int fd, void* __restrict buf, size_t n, int flags, sockaddr* __restrict from,
                 socklen_t* __restrict len) {
    return recv_impl(fd, buf, n, flags, from, len);
}

ssize_t __recvfrom_chk(int fd, void* __restrict buf, size_t n, size_t buflen, int flags, sockaddr* __restrict from,
                       socklen_t* __restrict len) {
    if (n > buflen) __chk_fail();
    return recv_impl(fd, buf, n, flags, from, len);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    if (flags & MSG_DONTWAIT) return sys::recvmsg(fd, msg, flags);
    const socklen_t name0 = msg->msg_namelen;
    const std::size_t control0 = msg->msg_controllen;
    blocking_fd b(fd);
    const int f = flags | b.dontwait();
    return b.call(false, [&] {
        msg->msg_namelen = name0;
        msg->msg_controllen = control0;
        return sys::recvmsg(fd, msg, f);
    });
}

ssize_t send(int fd, const void* buf, size_t n, int flags) { return send_impl(fd, buf, n, flags, nullptr, 0); }

ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to, socklen_t len) {
    return send_impl(fd, buf, n, flags, to, len);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    if (flags & MSG_DONTWAIT) return sys::sendmsg(fd, msg, flags);
    msghdr m = *msg;
    bool first = true;
    blocking_fd b(fd);
    const int f = flags | b.dontwait();
    return writev_all(b, msg->msg_iov, static_cast<int>(msg->msg_iovlen), [&](const iovec* v, int c) {
        m.msg_iov = const_cast<iovec*>(v);
        m.msg_iovlen = static_cast<std::size_t>(c);
        const long r = sys::sendmsg(fd, &m, f);
        if (r > 0 && first) {
            // Ancillary data (SCM_RIGHTS, ...) went with the first bytes: never twice.
            first = false;
            m.msg_control = nullptr;
            m.msg_controllen = 0;
        }
        return r;
    });
}

int accept(int fd, sockaddr* __restrict addr, socklen_t* __restrict len) { return accept_impl(fd, addr, len, 0); }

int accept4(int fd, sockaddr* __restrict addr, socklen_t* __restrict len, int flags) {
    return accept_impl(fd, addr, len, flags);
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
    blocking_fd b(fd);
    if (!b.dontwait()) return connect_waiting(b, fd, addr, len);
    // Blocking underneath: non-blocking while it connects, so the fiber can park.
    const long fl = sys::fcntl(fd, F_GETFL, 0);
    if (fl < 0 || sys::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return static_cast<int>(sys::connect(fd, addr, len));
    const int r = connect_waiting(b, fd, addr, len);
    const int saved = errno;
    sys::fcntl(fd, F_SETFL, fl);
    errno = saved;
    return r;
}

int socket(int domain, int type, int protocol) {
    const bool fiber = fiber_worker() != nullptr;
    const long fd = sys::socket(domain, type, protocol);
    if (fd >= 0) record_new_fd(static_cast<int>(fd), fiber, (type & SOCK_NONBLOCK) != 0);
    return static_cast<int>(fd);
}

}  // extern "C"
