// udp_socket on the poller.
#include "weft/net/udp.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <utility>

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
