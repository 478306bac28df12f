// Socket operations shared by the socket classes: the byte-stream calls of
// tcp_stream and unix_stream (read, read_exact, write, write_all, shutdown),
// connect and accept on stream sockets, and small helpers every socket type
// needs. One implementation, so TCP and Unix-domain streams behave alike.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <type_traits>

#include "weft/deadline.hpp"
#include "weft/net/address.hpp"
#include "weft/net/buffer.hpp"
#include "weft/net/pooled_buffer.hpp"

namespace weft::detail {

// size <= SSIZE_MAX; otherwise false and ec = invalid_argument.
bool size_ok(std::size_t size, std::error_code& ec) noexcept;

// setsockopt of an int option; a negative value is invalid_argument.
void set_int_option(int fd, int level, int name, int value, std::error_code& ec) noexcept;

// getsockname / getpeername of an IP socket; empty on failure.
net::address socket_name(int fd, bool peer);

[[noreturn]] void throw_error(std::error_code ec, const char* what);  // weft/this_fiber.hpp

// The throwing form of a call that has an error_code form: runs fn(ec) and
// throws std::system_error(ec, what) if it failed.
template <class Fn>
auto or_throw(Fn fn, const char* what) {
    std::error_code ec;
    if constexpr (std::is_void_v<decltype(fn(ec))>) {
        fn(ec);
        if (ec) throw_error(ec, what);
    } else {
        auto r = fn(ec);
        if (ec) throw_error(ec, what);
        return r;
    }
}

namespace stream_ops {

// Semantics of tcp_stream's members of the same names; fd may be -1
// (bad_file_descriptor).
std::size_t read(int fd, void* data, std::size_t size, std::error_code& ec, deadline d);
net::pooled_buffer read_pooled(int fd, std::error_code& ec, deadline d);
std::size_t read_exact(int fd, void* data, std::size_t size, std::error_code& ec, deadline d);
std::size_t write(int fd, const void* data, std::size_t size, std::error_code& ec, deadline d);
std::size_t write_all(int fd, const void* data, std::size_t size, std::error_code& ec, deadline d);
std::size_t send_file(int fd, int file_fd, std::uint64_t offset, std::size_t count, std::error_code& ec, deadline d);
void shutdown_write(int fd, std::error_code& ec) noexcept;
std::size_t readv(int fd, std::span<const net::mutable_buffer> bufs, std::error_code& ec, deadline d);
std::size_t writev(int fd, std::span<const net::const_buffer> bufs, std::error_code& ec, deadline d);
std::size_t writev_all(int fd, std::span<const net::const_buffer> bufs, std::error_code& ec, deadline d);

// Connects a registered, non-blocking stream socket that is not connected
// yet. A connect in progress (EINPROGRESS) is waited for under the deadline;
// other errors, EAGAIN included, are returned as they are.
void connect(int fd, const sockaddr* to, socklen_t len, std::error_code& ec, deadline d);

// Accepts one connection on a listening socket: a registered, non-blocking
// fd, or -1 with ec set. Transient failures (ECONNABORTED, EPROTO) are
// retried; fd exhaustion (EMFILE, ENFILE, ENOBUFS, ENOMEM) backs off and
// retries (5 ms doubling to 200 ms), under the deadline and cancellation.
// peer, if given, gets the client's address (unmapped) on success.
int accept(int listen_fd, std::error_code& ec, deadline d, net::address* peer = nullptr);

}  // namespace stream_ops
}  // namespace weft::detail
