// udp_socket on the poller.
#include "weft/net/udp.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <string>
#include <utility>
#include <vector>

#include "net/host_port.hpp"
#include "net/io.hpp"
#include "net/stream_io.hpp"
#include "weft/this_fiber.hpp"

namespace weft::net {

using detail::io_retry;

namespace {

std::error_code errno_code() { return std::error_code(errno, std::generic_category()); }

int family_of(const address& a) { return a.is_v6() ? AF_INET6 : AF_INET; }

// One datagram into data; `from` (optional) gets the sender. MSG_TRUNC in the
// returned flags means the datagram did not fit: report message_size, keep
// what was copied.
std::size_t receive_datagram(int fd, void* data, std::size_t size, address* from, std::error_code& ec,
                             deadline d) {
    ec.clear();
    if (!detail::size_ok(size, ec)) return 0;
    int flags = 0;
    socklen_t name_len = 0;
    const long n = io_retry(fd, false, d.steady_ns(), ec, [&]() -> long {
        iovec iov{data, size};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (from) {
            msg.msg_name = from->data();
            msg.msg_namelen = address::capacity;
        }
        const ssize_t r = ::recvmsg(fd, &msg, 0);
        if (r >= 0) {
            flags = msg.msg_flags;
            name_len = msg.msg_namelen;
        }
        return static_cast<long>(r);
    });
    if (n < 0) return 0;
    if (from) from->set_size(name_len <= address::capacity ? name_len : 0);
    if (flags & MSG_TRUNC) ec = std::make_error_code(std::errc::message_size);
    return static_cast<std::size_t>(n);
}

}  // namespace

udp_socket& udp_socket::operator=(udp_socket&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = o.release();
    }
    return *this;
}

void udp_socket::close() noexcept { detail::close_fd(fd_.take()); }

udp_socket udp_socket::bind(const address& at, std::error_code& ec) {
    ec.clear();
    if (at.empty()) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
    }
    udp_socket s(detail::open_socket(family_of(at), SOCK_DGRAM, ec));
    if (ec) return {};
    if (::bind(s.fd_, static_cast<const sockaddr*>(at.data()), at.size()) != 0) {
        ec = errno_code();
        return {};
    }
    return s;
}

udp_socket udp_socket::bind(std::string_view where, std::error_code& ec) {
    udp_socket s;
    s.fd_ = detail::bind_where(where, ec, [](const address& at, bool dual_stack, std::error_code& e) {
        const int fd = detail::open_socket(family_of(at), SOCK_DGRAM, e);
        if (fd < 0) return -1;
        const int zero = 0;
        if ((dual_stack && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) ||
            ::bind(fd, static_cast<const sockaddr*>(at.data()), at.size()) != 0) {
            e = errno_code();
            detail::close_fd(fd);
            return -1;
        }
        return fd;
    });
    return s;
}

udp_socket udp_socket::bind(std::string_view where) {
    std::error_code ec;
    udp_socket s = bind(where, ec);
    if (ec) detail::throw_error(ec, ("weft::net::udp_socket::bind to \"" + std::string(where) + "\"").c_str());
    return s;
}

udp_socket udp_socket::bind(const address& at) {
    std::error_code ec;
    udp_socket s = bind(at, ec);
    if (ec) detail::throw_error(ec, ("weft::net::udp_socket::bind to " + at.to_string()).c_str());
    return s;
}

std::size_t udp_socket::send_to(const void* data, std::size_t size, const address& to, std::error_code& ec,
                                deadline d) {
    ec.clear();
    if (!detail::size_ok(size, ec)) return 0;
    if (to.empty()) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return 0;
    }
    const int fd = fd_;
    const auto* sa = static_cast<const sockaddr*>(to.data());
    const long n = io_retry(fd, true, d.steady_ns(), ec,
                            [&] { return static_cast<long>(::sendto(fd, data, size, MSG_NOSIGNAL, sa, to.size())); });
    return n < 0 ? 0 : static_cast<std::size_t>(n);
}

std::size_t udp_socket::send_to(const void* data, std::size_t size, const address& to, deadline d) {
    std::error_code ec;
    const std::size_t n = send_to(data, size, to, ec, d);
    if (ec) detail::throw_error(ec, ("weft::net::udp_socket::send_to " + to.to_string()).c_str());
    return n;
}

std::size_t udp_socket::receive_from(void* data, std::size_t size, address& from, std::error_code& ec,
                                     deadline d) {
    return receive_datagram(fd_, data, size, &from, ec, d);
}

std::size_t udp_socket::receive_from(void* data, std::size_t size, address& from, deadline d) {
    return detail::or_throw([&](std::error_code& ec) { return receive_from(data, size, from, ec, d); }, "weft::net::udp_socket::receive_from");
}

void udp_socket::connect(const address& peer, std::error_code& ec) {
    ec.clear();
    if (peer.empty()) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return;
    }
    const bool opened_here = fd_ < 0;
    if (opened_here) {
        fd_ = detail::open_socket(family_of(peer), SOCK_DGRAM, ec);
        if (ec) {
            fd_ = -1;
            return;
        }
    }
    // A UDP connect only records the peer; it never waits.
    if (::connect(fd_, static_cast<const sockaddr*>(peer.data()), peer.size()) != 0) {
        ec = errno_code();
        if (opened_here) close();  // leave the socket as it was: not open
    }
}

void udp_socket::connect(const address& peer) {
    std::error_code ec;
    connect(peer, ec);
    if (ec) detail::throw_error(ec, ("weft::net::udp_socket::connect to " + peer.to_string()).c_str());
}

void udp_socket::connect(std::string_view peer, std::error_code& ec, deadline d) {
    ec.clear();
    detail::host_port hp;
    if (!detail::split_host_port(peer, hp, ec)) return;
    if (hp.wildcard) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return;
    }
    const std::vector<address> list = detail::dial_addresses(hp, ec, d);
    if (ec) return;
    for (const address& to : list) {
        connect(to, ec);
        if (!ec) return;
    }
}

void udp_socket::connect(std::string_view peer, deadline d) {
    std::error_code ec;
    connect(peer, ec, d);
    if (ec) detail::throw_error(ec, ("weft::net::udp_socket::connect to \"" + std::string(peer) + "\"").c_str());
}

std::size_t udp_socket::send(const void* data, std::size_t size, std::error_code& ec, deadline d) {
    ec.clear();
    if (!detail::size_ok(size, ec)) return 0;
    const int fd = fd_;
    const long n = io_retry(fd, true, d.steady_ns(), ec,
                            [&] { return static_cast<long>(::send(fd, data, size, MSG_NOSIGNAL)); });
    return n < 0 ? 0 : static_cast<std::size_t>(n);
}

std::size_t udp_socket::send(const void* data, std::size_t size, deadline d) {
    return detail::or_throw([&](std::error_code& ec) { return send(data, size, ec, d); }, "weft::net::udp_socket::send");
}

std::size_t udp_socket::receive(void* data, std::size_t size, std::error_code& ec, deadline d) {
    return receive_datagram(fd_, data, size, nullptr, ec, d);
}

std::size_t udp_socket::receive(void* data, std::size_t size, deadline d) {
    return detail::or_throw([&](std::error_code& ec) { return receive(data, size, ec, d); }, "weft::net::udp_socket::receive");
}

address udp_socket::local_address() const { return fd_ < 0 ? address() : detail::socket_name(fd_, false); }
address udp_socket::peer_address() const { return fd_ < 0 ? address() : detail::socket_name(fd_, true); }

}  // namespace weft::net
