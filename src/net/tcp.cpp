// tcp_stream and tcp_listener on the poller.
#include "weft/net/tcp.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "net/host_port.hpp"
#include "net/io.hpp"
#include "net/stream_io.hpp"
#include "weft/this_fiber.hpp"

namespace weft::net {

namespace {

// A listening socket at `at`; dual_stack: an IPv6 one that takes IPv4 too.
// The fd, or -1 with ec set.
int open_listener(const address& at, bool dual_stack, const listen_options& opts, std::error_code& ec) {
    const int fd = detail::open_socket(at.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM, ec);
    if (fd < 0) return -1;
    const int one = 1, zero = 0;
    if (opts.reuse_address) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opts.reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if ((dual_stack && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) ||
        ::bind(fd, static_cast<const sockaddr*>(at.data()), at.size()) != 0 || ::listen(fd, opts.backlog) != 0) {
        ec = std::error_code(errno, std::generic_category());
        detail::close_fd(fd);
        return -1;
    }
    return fd;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

}  // namespace weft::net

namespace weft::detail {

bool register_fd(int fd, std::error_code& ec) {
    if ((ec = fd_attach(fd))) {
        ::close(fd);
        return false;
    }
    return true;
}

int open_socket(int family, int type, std::error_code& ec) {
    const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ec = std::error_code(errno, std::generic_category());
        return -1;
    }
    return register_fd(fd, ec) ? fd : -1;
}

void close_fd(int fd) noexcept { fd_close(fd); }

}  // namespace weft::detail

namespace weft::net {

// ---- tcp_stream -----------------------------------------------------------

tcp_stream tcp_stream::connect(const address& to, std::error_code& ec, deadline d) {
    if (to.empty()) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
    }
    const int family = to.is_v6() ? AF_INET6 : AF_INET;
    tcp_stream s(detail::open_socket(family, SOCK_STREAM, ec));
    if (ec) return {};
    detail::stream_ops::connect(s.fd_, static_cast<const sockaddr*>(to.data()), to.size(), ec, d);
    if (ec) return {};
    return s;
}

tcp_stream tcp_stream::connect(std::string_view host_port, std::error_code& ec, deadline d) {
    ec.clear();
    detail::host_port hp;
    if (!detail::split_host_port(host_port, hp, ec)) return {};
    if (hp.wildcard) {  // a listener's "every address" names no peer
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
    }
    // One deadline for the lookup and every attempt. A name's lookup always
    // waits (on the offload pool), so a pending cancel or a passed deadline
    // fail it; an address literal goes straight to the connect, which like
    // every socket call succeeds if the kernel completes it at once.
    const std::vector<address> list = detail::dial_addresses(hp, ec, d);
    if (ec) return {};
    for (const address& to : list) {
        tcp_stream s = connect(to, ec, d);
        if (!ec) return s;
        if (detail::ends_the_attempts(ec)) break;
    }
    return {};
}

tcp_stream tcp_stream::connect(std::string_view host_port, deadline d) {
    std::error_code ec;
    tcp_stream s = connect(host_port, ec, d);
    if (ec) detail::throw_error(ec, ("weft::net::tcp_stream::connect to " + quoted(host_port)).c_str());
    return s;
}

tcp_stream tcp_stream::connect(const address& to, deadline d) {
    std::error_code ec;
    tcp_stream s = connect(to, ec, d);
    if (ec) detail::throw_error(ec, ("weft::net::tcp_stream::connect to " + to.to_string()).c_str());
    return s;
}

std::size_t tcp_stream::readv(std::span<const mutable_buffer> bufs, std::error_code& ec, deadline d) {
    return detail::stream_ops::readv(fd_, bufs, ec, d);
}
std::size_t tcp_stream::readv(std::span<const mutable_buffer> bufs, deadline d) {
    return detail::or_throw([&](std::error_code& ec) { return readv(bufs, ec, d); }, "weft::net::tcp_stream::readv");
}
std::size_t tcp_stream::writev(std::span<const const_buffer> bufs, std::error_code& ec, deadline d) {
    return detail::stream_ops::writev(fd_, bufs, ec, d);
}
std::size_t tcp_stream::writev(std::span<const const_buffer> bufs, deadline d) {
    return detail::or_throw([&](std::error_code& ec) { return writev(bufs, ec, d); }, "weft::net::tcp_stream::writev");
}
std::size_t tcp_stream::writev_all(std::span<const const_buffer> bufs, std::error_code& ec, deadline d) {
    return detail::stream_ops::writev_all(fd_, bufs, ec, d);
}
std::size_t tcp_stream::writev_all(std::span<const const_buffer> bufs, deadline d) {
    return detail::or_throw([&](std::error_code& ec) { return writev_all(bufs, ec, d); },
                   "weft::net::tcp_stream::writev_all");
}

void tcp_stream::set_nodelay(bool on, std::error_code& ec) noexcept {
    detail::set_int_option(fd_, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, ec);
}
void tcp_stream::set_keepalive(bool on, std::error_code& ec) noexcept {
    detail::set_int_option(fd_, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0, ec);
}
void tcp_stream::set_send_buffer_size(int bytes, std::error_code& ec) noexcept {
    detail::set_int_option(fd_, SOL_SOCKET, SO_SNDBUF, bytes, ec);
}
void tcp_stream::set_receive_buffer_size(int bytes, std::error_code& ec) noexcept {
    detail::set_int_option(fd_, SOL_SOCKET, SO_RCVBUF, bytes, ec);
}

void tcp_stream::set_nodelay(bool on) {
    detail::or_throw([&](std::error_code& ec) { set_nodelay(on, ec); }, "weft::net::tcp_stream::set_nodelay");
}
void tcp_stream::set_keepalive(bool on) {
    detail::or_throw([&](std::error_code& ec) { set_keepalive(on, ec); }, "weft::net::tcp_stream::set_keepalive");
}
void tcp_stream::set_send_buffer_size(int bytes) {
    detail::or_throw([&](std::error_code& ec) { set_send_buffer_size(bytes, ec); },
            "weft::net::tcp_stream::set_send_buffer_size");
}
void tcp_stream::set_receive_buffer_size(int bytes) {
    detail::or_throw([&](std::error_code& ec) { set_receive_buffer_size(bytes, ec); },
            "weft::net::tcp_stream::set_receive_buffer_size");
}

address tcp_stream::local_address() const { return detail::socket_name(fd_, false).unmapped(); }
address tcp_stream::peer_address() const { return detail::socket_name(fd_, true).unmapped(); }

// ---- tcp_listener -----------------------------------------------------------

tcp_listener& tcp_listener::operator=(tcp_listener&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = o.fd_.take();
    }
    return *this;
}

void tcp_listener::close() noexcept { detail::close_fd(fd_.take()); }

tcp_listener tcp_listener::bind(const address& at, std::error_code& ec, const listen_options& opts) {
    ec.clear();
    if (at.empty() || opts.backlog < 0) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
    }
    tcp_listener l;
    l.fd_ = open_listener(at, false, opts, ec);
    return l;
}

tcp_listener tcp_listener::bind(std::string_view where, std::error_code& ec, const listen_options& opts) {
    ec.clear();
    if (opts.backlog < 0) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
    }
    tcp_listener l;
    l.fd_ = detail::bind_where(where, ec, [&](const address& at, bool dual_stack, std::error_code& e) {
        return open_listener(at, dual_stack, opts, e);
    });
    return l;
}

tcp_listener tcp_listener::bind(std::string_view where, const listen_options& opts) {
    std::error_code ec;
    tcp_listener l = bind(where, ec, opts);
    if (ec) detail::throw_error(ec, ("weft::net::tcp_listener::bind to " + quoted(where)).c_str());
    return l;
}

tcp_listener tcp_listener::bind(const address& at, const listen_options& opts) {
    std::error_code ec;
    tcp_listener l = bind(at, ec, opts);
    if (ec) detail::throw_error(ec, ("weft::net::tcp_listener::bind to " + at.to_string()).c_str());
    return l;
}

tcp_stream tcp_listener::accept(std::error_code& ec, deadline d) {
    const int conn = detail::stream_ops::accept(fd_, ec, d);
    if (conn < 0) return {};
    return tcp_stream(conn);
}

tcp_stream tcp_listener::accept(deadline d) {
    return detail::or_throw([&](std::error_code& ec) { return accept(ec, d); }, "weft::net::tcp_listener::accept");
}

tcp_stream tcp_listener::accept(address& peer, std::error_code& ec, deadline d) {
    address from;
    const int conn = detail::stream_ops::accept(fd_, ec, d, &from);
    if (conn < 0) return {};
    peer = from;
    return tcp_stream(conn);
}

tcp_stream tcp_listener::accept(address& peer, deadline d) {
    return detail::or_throw([&](std::error_code& ec) { return accept(peer, ec, d); },
                            "weft::net::tcp_listener::accept");
}

address tcp_listener::local_address() const { return detail::socket_name(fd_, false); }

// ---- errors -------------------------------------------------------------------

namespace {
class net_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "weft.net"; }
    std::string message(int v) const override {
        switch (static_cast<net_errc>(v)) {
            case net_errc::eof: return "end of stream: the peer closed the connection";
        }
        return "unknown weft.net error";
    }
};
}  // namespace

const std::error_category& net_category() noexcept {
    static const net_category_impl cat;
    return cat;
}

}  // namespace weft::net
