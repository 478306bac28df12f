// The shared stream-socket operations behind tcp_stream and unix_stream.
#include "net/stream_io.hpp"

#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>

#include "net/io.hpp"
#include "net/pooled.hpp"
#include "platform/quiet_signal.hpp"
#ifdef WEFT_HAVE_URING
#include "reactor/uring_reactor.hpp"
#endif
#include "weft/net/error.hpp"
#include "weft/this_fiber.hpp"

namespace weft::detail {

bool size_ok(std::size_t size, std::error_code& ec) noexcept {
    if (size <= static_cast<std::size_t>(SSIZE_MAX)) return true;
    ec = std::make_error_code(std::errc::invalid_argument);
    return false;
}

void set_int_option(int fd, int level, int name, int value, std::error_code& ec) noexcept {
    ec.clear();
    if (value < 0) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return;
    }
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0) ec = std::error_code(errno, std::generic_category());
}

net::address socket_name(int fd, bool peer) {
    net::address a;
    socklen_t len = net::address::capacity;
    const int r = peer ? ::getpeername(fd, static_cast<sockaddr*>(a.data()), &len)
                       : ::getsockname(fd, static_cast<sockaddr*>(a.data()), &len);
    // Only an IP address fits; anything else (a Unix path) reads as empty.
    if (r == 0 && len <= net::address::capacity) a.set_size(len);
    return a;
}

namespace {
// Transient accept failures: the listener stays usable, the caller should not see them.
bool accept_can_retry(int err) {
    return err == ECONNABORTED || err == EPROTO || err == EINTR;
}
bool accept_out_of_fds(int err) {
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}
}  // namespace

// On a fiber of an io_uring worker, a receive or send goes into the ring
// (uring_reactor::socket_op) instead of a try that may end in EAGAIN.
// Returns the bytes moved, -1 with ec, or not_taken: the caller's readiness
// path runs (another backend, a deadline already passed or a cancel pending,
// which that path reports or completes by its own rule, a full ring, or
// requests on fd in another worker's ring).
namespace {
constexpr long not_taken = -2;

#ifndef WEFT_HAVE_URING
long ring_io(int, bool, void*, std::size_t, deadline, std::error_code&) { return not_taken; }
#else
// What a socket request of the ring ended with, as the stream calls report
// it: the bytes moved (even if the wait was ended early: they are the
// caller's), -1 with ec, or not_taken when the ring had no room (or, with
// no_buffers_too, no provided buffer) and the fd is still open.
// What every ring socket request does first: the deadline, cancel and
// deadline_scope checks, and fd counted in `ring` (false: the readiness
// path runs; it reports a passed deadline or a cancel by its own rule).
bool ring_begin(int fd, uring_reactor* ring, deadline d, std::int64_t& dl) {
    dl = d.steady_ns();
    return !begin_socket_call(dl) && fd_ring_begin(fd, ring);
}

long ring_result(int res, bool closed, wait_outcome ended, bool no_buffers_too, std::error_code& ec) {
    if (res >= 0) {
        ec.clear();
        return res;
    }
    if (res == uring_reactor::no_sqe || (no_buffers_too && res == -ENOBUFS)) {
        if (!closed) return not_taken;
        ec = std::make_error_code(std::errc::bad_file_descriptor);
    } else if (closed || res == -EBADF) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
    } else if (ended == wait_outcome::canceled) {
        ec = std::make_error_code(std::errc::operation_canceled);
    } else if (ended == wait_outcome::timed_out) {
        ec = std::make_error_code(std::errc::timed_out);
    } else {
        ec = std::error_code(-res, std::generic_category());
    }
    return -1;
}

long ring_io(int fd, bool send, void* data, std::size_t size, deadline d, std::error_code& ec) {
    if (fd < 0 || size == 0) return not_taken;
    uring_reactor* ring = fiber_uring();
    if (!ring) return not_taken;
    if (send) {
        // A send usually finds room in the socket buffer: one try first, and
        // the ring only waits for room (a receive goes to the ring at once: it
        // usually comes before its data).
        const long n = ::send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            ec.clear();
            return n;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            ec = std::error_code(errno, std::generic_category());
            return -1;
        }
    }
    std::int64_t dl;
    if (!ring_begin(fd, ring, d, dl)) return not_taken;
    constexpr std::size_t max_op = 1u << 30;  // an SQE's length is 32 bits
    wait_outcome ended;
    const int res = ring->socket_op(send ? uring_reactor::socket_opcode::send : uring_reactor::socket_opcode::recv,
                                    fd, data, static_cast<unsigned>(size < max_op ? size : max_op), dl, ended);
    return ring_result(res, fd_ring_end(fd), ended, false, ec);
}
#endif
}  // namespace

namespace stream_ops {

namespace {
// A call with nothing to move: 0 at once, never a wait, and (for a read) not
// EOF: recv(fd, buf, 0) would say 0 whether data is pending or the peer
// closed, and wait on EAGAIN when neither. A closed stream is still an error.
std::size_t nothing_to_move(int fd, std::error_code& ec) {
    if (fd < 0) ec = std::make_error_code(std::errc::bad_file_descriptor);
    else ec.clear();
    return 0;
}
}  // namespace

std::size_t read(int fd, void* data, std::size_t size, std::error_code& ec, deadline d) {
    if (!size_ok(size, ec)) return 0;
    if (size == 0) return nothing_to_move(fd, ec);
    if (const long n = ring_io(fd, false, data, size, d, ec); n != not_taken) return n < 0 ? 0 : static_cast<std::size_t>(n);
    const long n = io_retry(fd, false, d.steady_ns(), ec, [&] { return ::recv(fd, data, size, 0); });
    return n < 0 ? 0 : static_cast<std::size_t>(n);
}

// read_pooled on a fiber of an io_uring worker: one receive in the ring
// with a buffer the kernel picks from the worker's provided-buffer ring only
// when data arrives (uring_reactor::recv_provided). Returns ring_io's
// results; `block` holds the bytes when the result is > 0. Not taken (the
// readiness path below runs) where ring_io would not take a receive, where
// the kernel has no buffer rings, and when every provided buffer is in use.
namespace {
#ifndef WEFT_HAVE_URING
long ring_pooled(int, deadline, std::error_code&, std::byte*& block) {
    block = nullptr;
    return not_taken;
}
#else
long ring_pooled(int fd, deadline d, std::error_code& ec, std::byte*& block) {
    block = nullptr;
    if (fd < 0) return not_taken;
    uring_reactor* ring = fiber_uring();
    if (!ring || !ring->provide_buffers(&pooled_access::take_block, &pooled_access::give_block,
                                        static_cast<unsigned>(net::pooled_buffer::capacity)))
        return not_taken;
    std::int64_t dl;
    if (!ring_begin(fd, ring, d, dl)) return not_taken;
    wait_outcome ended;
    const int res = ring->recv_provided(fd, dl, ended, block);
    return ring_result(res, fd_ring_end(fd), ended, /*no_buffers_too=*/true, ec);
}
#endif

// An accept on a fiber of an io_uring worker is one IORING_OP_ACCEPT
// (uring_reactor::accept_op): no accept4 that ends in EAGAIN, and the
// request goes out with the worker's next poll. The new fd, -1 with ec, or
// not_taken: the readiness path runs.
#ifndef WEFT_HAVE_URING
long ring_accept(int, deadline, net::address*, socklen_t*, std::error_code&) { return not_taken; }
#else
long ring_accept(int fd, deadline d, net::address* from, socklen_t* from_len, std::error_code& ec) {
    if (fd < 0) return not_taken;
    uring_reactor* ring = fiber_uring();
    std::int64_t dl;
    if (!ring || !ring_begin(fd, ring, d, dl)) return not_taken;
    wait_outcome ended;
    const int res = ring->accept_op(fd, from ? static_cast<sockaddr*>(from->data()) : nullptr, from ? from_len : nullptr,
                                    dl, ended);
    const bool closed = fd_ring_end(fd);
    if (res >= 0 && closed) {
        ::close(res);  // accepted as the listener was closed: gone with it, as its backlog is
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return -1;
    }
    return ring_result(res, closed, ended, false, ec);
}
#endif
}  // namespace

// Elsewhere, readiness first (epoll, kqueue, and io_uring when the ring
// path is not taken): the try, and each retry after a readiness event,
// takes a buffer of the thread's cache only for the receive itself and gives
// it back on EAGAIN before the fiber parks.
net::pooled_buffer read_pooled(int fd, std::error_code& ec, deadline d) {
    std::byte* block = nullptr;
    if (const long n = ring_pooled(fd, d, ec, block); n != not_taken) {
        if (n <= 0) return {};  // an error (ec), or EOF: an empty lease
        return pooled_access::make(block, static_cast<std::size_t>(n));
    }
    const long n = io_retry(fd, false, d.steady_ns(), ec, [&]() -> long {
        block = pooled_access::take_block();
        if (!block) {
            errno = ENOMEM;
            return -1;
        }
        const long got = ::recv(fd, block, net::pooled_buffer::capacity, MSG_DONTWAIT);
        if (got <= 0) {
            const int err = errno;
            pooled_access::give_block(block);
            block = nullptr;
            errno = err;
        }
        return got;
    });
    if (n <= 0) return {};  // an error (ec), or EOF: an empty lease
    return pooled_access::make(block, static_cast<std::size_t>(n));
}

std::size_t read_exact(int fd, void* data, std::size_t size, std::error_code& ec, deadline d) {
    if (size == 0) return nothing_to_move(fd, ec);
    auto* p = static_cast<char*>(data);
    std::size_t done = 0;
    while (done < size) {
        const std::size_t n = read(fd, p + done, size - done, ec, d);
        if (ec) return done;
        if (n == 0) {
            ec = net::net_errc::eof;
            return done;
        }
        done += n;
    }
    ec.clear();
    return done;
}

std::size_t write(int fd, const void* data, std::size_t size, std::error_code& ec, deadline d) {
    if (!size_ok(size, ec)) return 0;
    if (size == 0) return nothing_to_move(fd, ec);
    if (const long n = ring_io(fd, true, const_cast<void*>(data), size, d, ec); n != not_taken)
        return n < 0 ? 0 : static_cast<std::size_t>(n);
    // MSG_NOSIGNAL: a peer that went away is an error code, not a SIGPIPE.
    const long n = io_retry(fd, true, d.steady_ns(), ec, [&] { return ::send(fd, data, size, MSG_NOSIGNAL); });
    return n < 0 ? 0 : static_cast<std::size_t>(n);
}

std::size_t write_all(int fd, const void* data, std::size_t size, std::error_code& ec, deadline d) {
    if (size == 0) return nothing_to_move(fd, ec);
    const auto* p = static_cast<const char*>(data);
    std::size_t done = 0;
    while (done < size) {
        const std::size_t n = write(fd, p + done, size - done, ec, d);
        if (ec) return done;
        done += n;
    }
    ec.clear();
    return done;
}

namespace {
static_assert(sizeof(net::mutable_buffer) == sizeof(iovec) && sizeof(net::const_buffer) == sizeof(iovec),
              "weft buffers must match iovec");
constexpr std::size_t max_iov = 1024;  // IOV_MAX on Linux

bool iov_ok(std::size_t count, std::size_t total_hint, std::error_code& ec) {
    if (count <= max_iov && total_hint <= static_cast<std::size_t>(SSIZE_MAX)) return true;
    ec = std::make_error_code(std::errc::invalid_argument);
    return false;
}

template <class Buffer>
std::size_t total_size(std::span<const Buffer> bufs) {
    std::size_t t = 0;
    for (const auto& b : bufs) t += b.size;
    return t;
}
}  // namespace

std::size_t readv(int fd, std::span<const net::mutable_buffer> bufs, std::error_code& ec, deadline d) {
    const std::size_t total = total_size(bufs);
    if (!iov_ok(bufs.size(), total, ec)) return 0;
    if (total == 0) return nothing_to_move(fd, ec);
    const auto* iov = reinterpret_cast<const iovec*>(bufs.data());
    const long n = io_retry(fd, false, d.steady_ns(), ec,
                            [&] { return static_cast<long>(::readv(fd, iov, static_cast<int>(bufs.size()))); });
    return n < 0 ? 0 : static_cast<std::size_t>(n);
}

std::size_t writev(int fd, std::span<const net::const_buffer> bufs, std::error_code& ec, deadline d) {
    const std::size_t total = total_size(bufs);
    if (!iov_ok(bufs.size(), total, ec)) return 0;
    if (total == 0) return nothing_to_move(fd, ec);
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(reinterpret_cast<const iovec*>(bufs.data()));
    msg.msg_iovlen = bufs.size();
    // sendmsg, not writev: MSG_NOSIGNAL keeps a vanished peer from raising SIGPIPE.
    const long n = io_retry(fd, true, d.steady_ns(), ec, [&] { return static_cast<long>(::sendmsg(fd, &msg, MSG_NOSIGNAL)); });
    return n < 0 ? 0 : static_cast<std::size_t>(n);
}

std::size_t writev_all(int fd, std::span<const net::const_buffer> bufs, std::error_code& ec, deadline d) {
    if (!iov_ok(bufs.size(), total_size(bufs), ec)) return 0;
    net::const_buffer local[max_iov];
    std::size_t count = 0;
    for (const auto& b : bufs)
        if (b.size > 0) local[count++] = b;
    std::size_t first = 0, done = 0;
    while (first < count) {
        const std::size_t n = writev(fd, std::span<const net::const_buffer>(local + first, count - first), ec, d);
        if (ec) return done;
        done += n;
        // Drop what went out: whole buffers, then the front of a partial one.
        std::size_t left = n;
        while (first < count && left >= local[first].size) left -= local[first++].size;
        if (first < count && left > 0) {
            local[first].data = static_cast<const char*>(local[first].data) + left;
            local[first].size -= left;
        }
    }
    ec.clear();
    if (fd < 0) ec = std::make_error_code(std::errc::bad_file_descriptor);
    return done;
}

namespace {
// sendfile(2) has no MSG_NOSIGNAL: to a peer that went away it raises
// SIGPIPE, which a library call must not (every other write here says
// MSG_NOSIGNAL). A call that moved all it was asked to met no gone peer;
// after a partial send sendfile reports the bytes it moved and raises
// SIGPIPE for the write that found the peer gone.
long sendfile_quiet(int sock, int file_fd, off_t* offset, std::size_t count) noexcept {
    return call_without_signal(
        SIGPIPE, [&] { return static_cast<long>(::sendfile(sock, file_fd, offset, count)); },
        [&](long n) { return n < 0 || static_cast<std::size_t>(n) < count; });
}
}  // namespace

// weft's stream sockets are non-blocking in the kernel (open_socket and
// accept make them so; an adopted fd must already be), so sendfile on one
// returns EAGAIN when the socket buffer is full and the fiber waits for
// writability in io_retry, as send does. No flag is changed for the call:
// toggling O_NONBLOCK around it would change the file description every
// other fiber, thread or process holding the socket sees, and sendfile has
// no per-call flag (as MSG_DONTWAIT is for send). The
// file side is read as read(2) would read it: a page-cache miss waits for
// the disk on this thread.
std::size_t send_file(int fd, int file_fd, std::uint64_t offset, std::size_t count, std::error_code& ec,
                      deadline d) {
    if (!size_ok(count, ec)) return 0;
    if (fd < 0 || file_fd < 0) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return 0;
    }
    if (offset > static_cast<std::uint64_t>(INT64_MAX) || count > static_cast<std::uint64_t>(INT64_MAX) - offset) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return 0;
    }
    if (count == 0) return nothing_to_move(fd, ec);
    constexpr std::size_t max_call = 0x7ffff000;  // what one sendfile moves at most
    std::size_t done = 0;
    while (done < count) {
        off_t at = static_cast<off_t>(offset + done);
        const std::size_t chunk = std::min(count - done, max_call);
        const long n = io_retry(fd, true, d.steady_ns(), ec, [&] { return sendfile_quiet(fd, file_fd, &at, chunk); });
        if (n < 0) return done;
        if (n == 0) {
            ec = net::net_errc::eof;  // the file ended before count bytes
            return done;
        }
        done += static_cast<std::size_t>(n);
    }
    ec.clear();
    return done;
}

void shutdown_write(int fd, std::error_code& ec) noexcept {
    ec.clear();
    if (::shutdown(fd, SHUT_WR) != 0) ec = std::error_code(errno, std::generic_category());
}

void connect(int fd, const sockaddr* to, socklen_t len, std::error_code& ec, deadline d) {
    ec.clear();
    if (::connect(fd, to, len) == 0) return;
    if (errno != EINPROGRESS) {
        ec = std::error_code(errno, std::generic_category());
        return;
    }
    // Connecting: writable means done, SO_ERROR says how it went.
    io_retry(fd, true, d.steady_ns(), ec, [&]() -> long {
        int err = 0;
        socklen_t elen = sizeof err;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) return -1;
        if (err == 0) {
            // Still in progress shows up as a successful connect only once
            // the peer address is known.
            sockaddr_storage peer;
            socklen_t plen = sizeof peer;
            if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) return 0;
            if (errno == ENOTCONN) errno = EAGAIN;
            return -1;
        }
        errno = err;
        return -1;
    });
}

int accept(int listen_fd, std::error_code& ec, deadline d, net::address* peer) {
    using namespace std::chrono_literals;
    auto backoff = 5ms;
    for (;;) {
        net::address from;
        socklen_t from_len = net::address::capacity;
        long n = ring_accept(listen_fd, d, peer ? &from : nullptr, &from_len, ec);
        if (n == not_taken) {
            n = io_retry(listen_fd, false, d.steady_ns(), ec, [&] {
                from_len = net::address::capacity;
                return static_cast<long>(::accept4(listen_fd, peer ? static_cast<sockaddr*>(from.data()) : nullptr,
                                                   peer ? &from_len : nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            });
        }
        if (!ec) {
            const int conn = static_cast<int>(n);
            if (!register_fd(conn, ec)) return -1;
            if (peer) {
                // Only an IP address fits; a Unix peer (unnamed, mostly) reads as empty.
                if (from_len <= net::address::capacity) from.set_size(from_len);
                *peer = from.unmapped();
            }
            return conn;
        }
        const int err = ec.value();
        if (ec.category() != std::generic_category()) return -1;
        if (accept_can_retry(err)) continue;
        if (!accept_out_of_fds(err)) return -1;
        // Out of fds: pending connections stay queued in the kernel. Back off
        // (up to 200 ms) and retry, instead of spinning on a listener that
        // stays readable; the deadline and cancel still apply to the sleep.
        std::error_code sleep_ec;
        const auto wake = std::min(std::chrono::steady_clock::now() + backoff,
                                   std::chrono::steady_clock::time_point(std::chrono::nanoseconds(d.steady_ns())));
        this_fiber::sleep_until(wake, sleep_ec);
        if (sleep_ec) {
            ec = sleep_ec;
            return -1;
        }
        backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
    }
}

}  // namespace stream_ops
}  // namespace weft::detail
