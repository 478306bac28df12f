// "host:port" strings for the dial and listen forms of the socket classes
// (tcp_stream::connect, tcp_listener::bind, udp_socket::bind/connect): how
// one splits, and the one loop that tries each address a string names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "weft/deadline.hpp"
#include "weft/net/address.hpp"

namespace weft::detail {

// One "host:port" string, split. The host is one of:
//   empty or "*"       a wildcard (every local address), for binding only
//   an IPv4 literal    "127.0.0.1"           -> literal
//   "[IPv6 literal]"   "[::1]", "[::]"       -> literal (brackets required)
//   a host name        "localhost", "db.lan" -> resolved by the caller
// The port is decimal, 0..65535, without sign or spaces.
struct host_port {
    std::string host;         // as written, brackets removed; empty for a wildcard
    std::uint16_t port = 0;
    bool wildcard = false;    // "", "*"
    net::address literal;     // set when host is an IP literal
};

// false and ec = invalid_argument when text is not such a string: "", ":",
// "host:", ":99999", ":-1", "[::1", "[::1]", "a:b:c" (IPv6 without brackets),
// "[name]:80", spaces or control characters in the host.
bool split_host_port(std::string_view text, host_port& out, std::error_code& ec);

// The addresses to dial for a split string that is not a wildcard: the literal,
// or what resolve() finds for the name (under deadline d and cancellation).
std::vector<net::address> dial_addresses(const host_port& hp, std::error_code& ec, deadline d);

// A failure that says this host has no IPv6 (no IPv6 sockets, or IPv6
// disabled): binding a wildcard then falls back to IPv4 only.
bool no_ipv6(const std::error_code& ec) noexcept;

// An error that ends a dial or bind at once instead of trying the next address.
inline bool ends_the_attempts(const std::error_code& ec) noexcept {
    return ec == std::errc::timed_out || ec == std::errc::operation_canceled;
}

// Binds what `where` names. open(at, dual_stack, ec) makes one socket bound to
// `at` and returns its fd (dual_stack: an IPv6 socket that takes IPv4 too),
// or -1 with ec set. A wildcard is tried as [::] dual-stack, then, if this host
// has no IPv6, as 0.0.0.0; "[::]:port" is dual-stack without the fallback; a
// literal is tried as it is; a name is resolved and its addresses tried in
// order. Returns the first fd that works, or -1 with the last error.
template <class Open>
int bind_where(std::string_view where, std::error_code& ec, Open open) {
    ec.clear();
    host_port hp;
    if (!split_host_port(where, hp, ec)) return -1;
    if (hp.wildcard) {
        const int fd = open(net::address::any_v6(hp.port), true, ec);
        if (fd >= 0 || !no_ipv6(ec)) return fd;
        return open(net::address::any_v4(hp.port), false, ec);
    }
    if (!hp.literal.empty()) return open(hp.literal, hp.literal == net::address::any_v6(hp.port), ec);
    const std::vector<net::address> list = dial_addresses(hp, ec, deadline{});
    if (ec) return -1;
    for (const net::address& at : list) {
        const int fd = open(at, false, ec);
        if (fd >= 0 || ends_the_attempts(ec)) return fd;
    }
    return -1;
}

}  // namespace weft::detail
