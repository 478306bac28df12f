// resolve(): getaddrinfo on the offload pool, waited for under a deadline.
// weft::offload's own deadline and cancellation release the caller; a lookup
// already running finishes on its pool thread with strings of its own.
#include "weft/net/resolve.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <utility>

#include "net/host_port.hpp"
#include "net/io.hpp"
#include "weft/offload.hpp"
#include "weft/this_fiber.hpp"

namespace weft::net {

namespace {
class resolve_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "weft.resolve"; }
    std::string message(int v) const override { return ::gai_strerror(v); }
};

struct outcome {
    int rc = 0;
    int err = 0;
    std::vector<address> found;
};

// The blocking part; runs on a pool thread (or the caller's, outside a fiber).
outcome lookup(const std::string& h, const std::string& s) {
    outcome o;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* list = nullptr;
    o.rc = ::getaddrinfo(h.c_str(), s.empty() ? nullptr : s.c_str(), &hints, &list);
    o.err = errno;
    if (o.rc != 0) return o;
    for (addrinfo* ai = list; ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > address::capacity) continue;
        address a;
        std::memcpy(a.data(), ai->ai_addr, ai->ai_addrlen);
        a.set_size(static_cast<std::uint32_t>(ai->ai_addrlen));
        o.found.push_back(a);
    }
    ::freeaddrinfo(list);
    return o;
}

// The lookup on the offload pool, waited for until deadline_ns (already
// narrowed by the fiber's deadline_scope) or a cancel.
outcome lookup_on_pool(std::string h, std::string s, std::int64_t deadline_ns, std::error_code& ec) {
    const auto until = std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(deadline_ns)));
    try {
        // The call owns the strings: an abandoned lookup may outlive us.
        return weft::offload([h = std::move(h), s = std::move(s)] { return lookup(h, s); },
                             deadline_ns == INT64_MAX ? deadline::none() : deadline(until));
    } catch (const std::system_error& e) {  // timed_out, operation_canceled, or no pool
        ec = e.code();
        return {};
    }
}
}  // namespace

const std::error_category& resolve_category() noexcept {
    static const resolve_category_impl cat;
    return cat;
}

std::vector<address> resolve(std::string_view host, std::string_view service, std::error_code& ec, deadline d) {
    ec.clear();
    std::string h(host), s(service);
    if (h.empty() || h.find('\0') != std::string::npos || s.find('\0') != std::string::npos) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
    }
    outcome out;
    if (weft::in_fiber()) {
        std::int64_t until = d.steady_ns();
        if ((ec = detail::begin_socket_call(until))) return {};
        out = lookup_on_pool(std::move(h), std::move(s), until, ec);
        if (ec) return {};
    } else {
        out = lookup(h, s);
    }
    if (out.rc == EAI_SYSTEM) ec = std::error_code(out.err, std::generic_category());
    else if (out.rc != 0) ec = std::error_code(out.rc, resolve_category());
    return std::move(out.found);
}

std::vector<address> resolve(std::string_view host, std::string_view service, deadline d) {
    std::error_code ec;
    auto r = resolve(host, service, ec, d);
    if (ec)
        throw std::system_error(ec, "weft::net::resolve(\"" + std::string(host) + "\", \"" +
                                        std::string(service) + "\")");
    return r;
}

}  // namespace weft::net

namespace weft::detail {

std::vector<net::address> dial_addresses(const host_port& hp, std::error_code& ec, deadline d) {
    ec.clear();
    if (hp.wildcard) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
    }
    if (!hp.literal.empty()) return {hp.literal};
    std::vector<net::address> list = net::resolve(hp.host, std::to_string(hp.port), ec, d);
    if (!ec && list.empty()) ec = std::make_error_code(std::errc::address_not_available);
    return list;
}

bool no_ipv6(const std::error_code& ec) noexcept {
    return ec == std::errc::address_family_not_supported || ec == std::errc::address_not_available ||
           ec == std::errc::protocol_not_supported || ec == std::errc::no_protocol_option;
}

}  // namespace weft::detail
