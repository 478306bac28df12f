// TCP in blocking style on fibers: tcp_stream and tcp_listener. Each blocking
// call parks only the calling fiber. Every call comes in two forms: one that
// fills a std::error_code, one that throws std::system_error. Deadlines and
// cancellation end a wait with timed_out / operation_canceled; they fail
// only a call that would wait: the I/O is tried first, so a read with data
// pending, a write with room or an accept with a connection queued succeeds
// even past its deadline (weft/net/stream.hpp states the rule, and the
// zero-size case: read(buf, 0) is 0 at once, not EOF).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <system_error>

#include "weft/detail/basic_stream.hpp"
#include "weft/detail/fd_slot.hpp"
#include "weft/deadline.hpp"
#include "weft/net/address.hpp"
#include "weft/net/buffer.hpp"
#include "weft/net/error.hpp"
#include "weft/net/stream.hpp"

namespace weft::net {

// A connected TCP socket. Move-only; the destructor closes it. Closing a
// stream wakes any fiber blocked on it with bad_file_descriptor.
// read, read_exact, write, write_all, send_file, shutdown_write, shutdown, close,
// is_open, native_handle and release come from detail::basic_stream
// (weft/detail/basic_stream.hpp), shared with unix_stream; tcp_stream models
// weft::net::stream (weft/net/stream.hpp).
class tcp_stream : public detail::basic_stream<tcp_stream> {
public:
    tcp_stream() noexcept = default;
    explicit tcp_stream(int fd) noexcept : basic_stream(fd) {}  // adopts a registered, non-blocking fd
    tcp_stream(tcp_stream&&) noexcept = default;
    tcp_stream& operator=(tcp_stream&&) noexcept = default;
    ~tcp_stream() = default;

    static tcp_stream connect(const address& to, std::error_code& ec, deadline d = {});
    static tcp_stream connect(const address& to, deadline d = {});
    // Dials "host:port": "127.0.0.1:80", "[::1]:80", "localhost:6379",
    // "db.example:5432". A host name is resolved (weft::net::resolve) within
    // the deadline, then each address it has is tried in the resolver's order
    // within what is left of it, until one connects; otherwise the last
    // address's error is reported (connection_refused for a closed port).
    // The deadline, a deadline_scope or cancel() end it at any wait
    // (timed_out / operation_canceled) without trying further addresses; a
    // name's lookup always waits, an address literal's connect only if the
    // kernel has not completed it at once.
    // A string that is not "host:port" (no port, a port outside 0..65535, an
    // IPv6 address without brackets, a wildcard host "" or "*") gives
    // invalid_argument; a name that does not resolve gives resolve_category()'s error.
    static tcp_stream connect(std::string_view host_port, std::error_code& ec, deadline d = {});
    static tcp_stream connect(std::string_view host_port, deadline d = {});

    // Scatter/gather: one readv/writev once the socket is ready; like read/write
    // they move at least one byte (buffers of 0 bytes in all: 0 at once).
    // writev_all loops until everything went out.
    std::size_t readv(std::span<const mutable_buffer> bufs, std::error_code& ec, deadline d = {});
    std::size_t readv(std::span<const mutable_buffer> bufs, deadline d = {});
    std::size_t writev(std::span<const const_buffer> bufs, std::error_code& ec, deadline d = {});
    std::size_t writev(std::span<const const_buffer> bufs, deadline d = {});
    std::size_t writev_all(std::span<const const_buffer> bufs, std::error_code& ec, deadline d = {});
    std::size_t writev_all(std::span<const const_buffer> bufs, deadline d = {});

    void set_nodelay(bool on, std::error_code& ec) noexcept;
    void set_nodelay(bool on);
    void set_keepalive(bool on, std::error_code& ec) noexcept;
    void set_keepalive(bool on);
    void set_send_buffer_size(int bytes, std::error_code& ec) noexcept;  // SO_SNDBUF
    void set_send_buffer_size(int bytes);
    void set_receive_buffer_size(int bytes, std::error_code& ec) noexcept;  // SO_RCVBUF
    void set_receive_buffer_size(int bytes);
    // IPv4 addresses on a socket of a dual-stack listener come as plain IPv4
    // (address::unmapped()); empty when not open.
    address local_address() const;
    address peer_address() const;
};

static_assert(stream<tcp_stream>);

struct listen_options {
    int backlog = 1024;
    bool reuse_address = true;
    bool reuse_port = false;
};

// A listening TCP socket. accept() survives fd exhaustion (EMFILE/ENFILE) by
// backing off and retrying instead of spinning or failing.
class tcp_listener {
public:
    tcp_listener() noexcept = default;
    tcp_listener(tcp_listener&& o) noexcept : fd_(o.fd_.take()) {}
    tcp_listener& operator=(tcp_listener&& o) noexcept;
    tcp_listener(const tcp_listener&) = delete;
    tcp_listener& operator=(const tcp_listener&) = delete;
    ~tcp_listener() { close(); }

    // Port 0 picks a free port; local_address() tells which.
    static tcp_listener bind(const address& at, std::error_code& ec, const listen_options& opts = {});
    static tcp_listener bind(const address& at, const listen_options& opts = {});
    // Listens where a "host:port" string says:
    //   ":8080", "*:8080"   every address: [::] dual-stack (IPv4 clients too,
    //                       seen as their IPv4 address), or 0.0.0.0 on a
    //                       host without IPv6
    //   "[::]:8080"         [::] dual-stack, no IPv4-only fallback
    //   "127.0.0.1:0", "[::1]:0", "0.0.0.0:80"   that address
    //   "localhost:0"       a host name: resolved, and the first of its
    //                       addresses that can be bound is
    // Bad strings give invalid_argument, as for tcp_stream::connect. A name's
    // lookup waits under the fiber's deadline_scope and cancel(); outside a
    // fiber it blocks the thread.
    static tcp_listener bind(std::string_view where, std::error_code& ec, const listen_options& opts = {});
    static tcp_listener bind(std::string_view where, const listen_options& opts = {});

    tcp_stream accept(std::error_code& ec, deadline d = {});
    tcp_stream accept(deadline d = {});
    // Also says who connected: peer is the client's address (an IPv4 client
    // of a dual-stack listener as its plain IPv4 address, as
    // tcp_stream::peer_address() gives it); left as it was on failure.
    tcp_stream accept(address& peer, std::error_code& ec, deadline d = {});
    tcp_stream accept(address& peer, deadline d = {});
    address local_address() const;

    bool is_open() const noexcept { return fd_ >= 0; }
    int native_handle() const noexcept { return fd_; }
    void close() noexcept;

private:
    detail::fd_slot fd_;
};

}  // namespace weft::net
