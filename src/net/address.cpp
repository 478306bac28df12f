// Address parsing and formatting.
#include "weft/net/address.hpp"

#include "net/host_port.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace weft::net {

static_assert(sizeof(sockaddr_in6) <= address::capacity, "address storage too small");

namespace {
std::error_code bad() { return std::make_error_code(std::errc::invalid_argument); }

bool parse_port(std::string_view s, std::uint16_t& port) {
    if (s.empty() || s.size() > 5) return false;
    unsigned v = 0;
    auto [p, e] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (e != std::errc() || p != s.data() + s.size() || v > 65535) return false;
    port = static_cast<std::uint16_t>(v);
    return true;
}
}  // namespace

address address::loopback_v4(std::uint16_t port) noexcept {
    address a;
    auto* sin = reinterpret_cast<sockaddr_in*>(a.storage_);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.size_ = sizeof(sockaddr_in);
    return a;
}

address address::loopback_v6(std::uint16_t port) noexcept {
    address a;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(a.storage_);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = in6addr_loopback;
    a.size_ = sizeof(sockaddr_in6);
    return a;
}

address address::any_v4(std::uint16_t port) noexcept {
    address a;
    auto* sin = reinterpret_cast<sockaddr_in*>(a.storage_);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
    a.size_ = sizeof(sockaddr_in);
    return a;
}

address address::any_v6(std::uint16_t port) noexcept {
    address a;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(a.storage_);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = in6addr_any;
    a.size_ = sizeof(sockaddr_in6);
    return a;
}

address address::unmapped() const noexcept {
    if (!is_v6()) return *this;
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(storage_);
    if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) return *this;
    address a;
    auto* sin = reinterpret_cast<sockaddr_in*>(a.storage_);
    sin->sin_family = AF_INET;
    sin->sin_port = sin6->sin6_port;
    std::memcpy(&sin->sin_addr, sin6->sin6_addr.s6_addr + 12, 4);
    a.size_ = sizeof(sockaddr_in);
    return a;
}

address address::parse(std::string_view text, std::error_code& ec) {
    ec.clear();
    std::string_view host, port_text;
    bool bracketed = false;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            ec = bad();
            return {};
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
        bracketed = true;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) {  // none, or bare IPv6
            ec = bad();
            return {};
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    std::uint16_t port = 0;
    if (host.empty() || host.size() >= 64 || !parse_port(port_text, port)) {
        ec = bad();
        return {};
    }
    if (!bracketed && host == "localhost") return loopback_v4(port);
    char buf[64];
    std::memcpy(buf, host.data(), host.size());
    buf[host.size()] = '\0';
    address a;
    if (bracketed) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(a.storage_);
        if (::inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1) {
            ec = bad();
            return {};
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        a.size_ = sizeof(sockaddr_in6);
    } else {
        auto* sin = reinterpret_cast<sockaddr_in*>(a.storage_);
        if (::inet_pton(AF_INET, buf, &sin->sin_addr) != 1) {
            ec = bad();  // host names other than localhost need resolve()
            return {};
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        a.size_ = sizeof(sockaddr_in);
    }
    return a;
}

address address::parse(std::string_view text) {
    std::error_code ec;
    address a = parse(text, ec);
    if (ec) throw std::system_error(ec, "weft::net::address::parse(\"" + std::string(text) + "\")");
    return a;
}

bool address::is_v6() const noexcept {
    return size_ > 0 && reinterpret_cast<const sockaddr*>(storage_)->sa_family == AF_INET6;
}

std::uint16_t address::port() const noexcept {
    if (size_ == 0) return 0;
    if (is_v6()) return ntohs(reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in*>(storage_)->sin_port);
}

std::string address::to_string() const {
    if (size_ == 0) return "";
    char buf[INET6_ADDRSTRLEN] = {};
    if (is_v6()) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_addr, buf, sizeof buf);
        return "[" + std::string(buf) + "]:" + std::to_string(port());
    }
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(storage_)->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
}

bool operator==(const address& a, const address& b) noexcept {
    return a.size_ == b.size_ && std::memcmp(a.storage_, b.storage_, a.size_) == 0;
}

}  // namespace weft::net

namespace weft::detail {

using net::bad;
using net::parse_port;

bool split_host_port(std::string_view text, host_port& out, std::error_code& ec) {
    ec.clear();
    out = host_port{};
    std::string_view host, port_text;
    bool bracketed = false;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            ec = bad();  // "[::1", "[::1]", "[::1]80"
            return false;
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
        bracketed = true;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) {  // no port, or IPv6 without brackets
            ec = bad();
            return false;
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    if (!parse_port(port_text, out.port) || host.size() > 253) {
        ec = bad();
        return false;
    }
    for (const char c : host) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '[' || c == ']' || c == '/' || c == '\\') {
            ec = bad();
            return false;
        }
    }
    if (!bracketed && (host.empty() || host == "*")) {
        out.wildcard = true;
        return true;
    }
    out.host.assign(host);
    if (bracketed) {
        // Only an IPv6 literal goes in brackets; a zone ("%eth0") is not taken.
        sockaddr_in6 sin6{};
        if (host.empty() || ::inet_pton(AF_INET6, out.host.c_str(), &sin6.sin6_addr) != 1) {
            ec = bad();
            return false;
        }
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(out.port);
        std::memcpy(out.literal.data(), &sin6, sizeof sin6);
        out.literal.set_size(sizeof sin6);
        return true;
    }
    sockaddr_in sin{};
    if (::inet_pton(AF_INET, out.host.c_str(), &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons(out.port);
        std::memcpy(out.literal.data(), &sin, sizeof sin);
        out.literal.set_size(sizeof sin);
    }
    return true;  // a host name when literal stays empty
}

}  // namespace weft::detail
