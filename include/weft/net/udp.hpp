// UDP in blocking style on fibers: udp_socket. Each blocking call parks only
// the calling fiber. Every call comes in two forms: one that fills a
// std::error_code, one that throws std::system_error. Deadlines and
// cancellation end a wait with timed_out / operation_canceled; as for every
// weft::net call (weft/net/stream.hpp), the I/O is tried first, so a send
// with room or a receive with a datagram waiting succeeds even past its
// deadline (or after cancel); only a call that would wait fails, at once.
#pragma once

#include <cstddef>
#include <string_view>
#include <system_error>

#include "weft/detail/fd_slot.hpp"
#include "weft/deadline.hpp"
#include "weft/net/address.hpp"

namespace weft::net {

// A UDP socket (IPv4 or IPv6, by the family of the address it is bound or
// connected to). Move-only; the destructor closes it. Closing a socket wakes
// any fiber blocked on it with bad_file_descriptor.
//
// Datagrams keep their boundaries: one send is one datagram, one receive
// takes one datagram. An empty datagram is valid: receiving it returns 0
// (that is not end-of-stream, UDP has none). So size 0 is no special case
// here, unlike for streams: send(data, 0) sends an empty datagram, and
// receive(buf, 0) takes the next datagram (message_size if it was not empty).
//
// Truncation: a datagram larger than the receive buffer does not fit. The
// buffer is still filled with its first `size` bytes, the return value is
// `size`, `from` is set, and ec is std::errc::message_size; the rest of the
// datagram is discarded by the kernel. The throwing forms throw
// std::system_error(message_size) in that case, so callers that expect large
// datagrams should use the error_code form or a large enough buffer (65507
// bytes is the largest UDP payload over IPv4).
//
// Sizes above SSIZE_MAX fail with invalid_argument.
class udp_socket {
public:
    udp_socket() noexcept = default;
    explicit udp_socket(int fd) noexcept : fd_(fd) {}  // adopts a registered, non-blocking fd
    udp_socket(udp_socket&& o) noexcept : fd_(o.release()) {}
    udp_socket& operator=(udp_socket&& o) noexcept;
    udp_socket(const udp_socket&) = delete;
    udp_socket& operator=(const udp_socket&) = delete;
    ~udp_socket() { close(); }

    // A socket bound to `at`; port 0 picks a free port, local_address() tells which.
    static udp_socket bind(const address& at, std::error_code& ec);
    static udp_socket bind(const address& at);
    // Binds where a "host:port" string says, as tcp_listener::bind does:
    // ":port" / "*:port" every address ([::] dual-stack, or 0.0.0.0 without
    // IPv6; datagrams from IPv4 senders then come from v4-mapped addresses
    // ([::ffff:1.2.3.4]:p), which send_to takes back as they are),
    // "[::]:port" dual-stack, a literal that address, a host name the first
    // of its addresses that can be bound. Bad strings give invalid_argument.
    static udp_socket bind(std::string_view where, std::error_code& ec);
    static udp_socket bind(std::string_view where);

    // Sends one datagram to `to`; returns size (UDP sends all or nothing;
    // too large a datagram gives message_size). Waits only while the socket's
    // send buffer is full.
    std::size_t send_to(const void* data, std::size_t size, const address& to, std::error_code& ec,
                        deadline d = {});
    std::size_t send_to(const void* data, std::size_t size, const address& to, deadline d = {});
    // Waits for one datagram; `from` says who sent it. See "Truncation" above.
    std::size_t receive_from(void* data, std::size_t size, address& from, std::error_code& ec, deadline d = {});
    std::size_t receive_from(void* data, std::size_t size, address& from, deadline d = {});

    // Sets the default peer: send()/receive() then talk to it only, datagrams
    // from other senders are dropped by the kernel, and ICMP errors for it
    // (port unreachable: connection_refused) are reported by a later send or
    // receive. Doesn't block. On a socket that is not open, first opens one of
    // the peer's family (the kernel picks the local address and port).
    void connect(const address& peer, std::error_code& ec);
    void connect(const address& peer);
    // The peer as "host:port" ("127.0.0.1:53", "[::1]:53", "localhost:9000");
    // a host name is resolved within the deadline (and the fiber's
    // deadline_scope and cancel), then its addresses are tried in order until
    // one connects (on an open socket: one of the socket's family). Bad strings,
    // and a wildcard host, give invalid_argument.
    void connect(std::string_view peer, std::error_code& ec, deadline d = {});
    void connect(std::string_view peer, deadline d = {});
    // send/receive on a connected socket; otherwise like send_to/receive_from.
    std::size_t send(const void* data, std::size_t size, std::error_code& ec, deadline d = {});
    std::size_t send(const void* data, std::size_t size, deadline d = {});
    std::size_t receive(void* data, std::size_t size, std::error_code& ec, deadline d = {});
    std::size_t receive(void* data, std::size_t size, deadline d = {});

    address local_address() const;  // empty when not open
    address peer_address() const;   // empty when not connected

    bool is_open() const noexcept { return fd_ >= 0; }
    int native_handle() const noexcept { return fd_; }
    void close() noexcept;
    int release() noexcept { return fd_.take(); }

private:
    detail::fd_slot fd_;
};

}  // namespace weft::net
