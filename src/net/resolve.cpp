// resolve(): getaddrinfo on the offload pool.
#include "weft/net/resolve.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "weft/offload.hpp"

namespace weft::net {

namespace {
class resolve_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "weft.resolve"; }
    std::string message(int v) const override { return ::gai_strerror(v); }
};
}  // namespace

const std::error_category& resolve_category() noexcept {
    static const resolve_category_impl cat;
    return cat;
}

std::vector<address> resolve(std::string_view host, std::string_view service, std::error_code& ec) {
    ec.clear();
    const std::string h(host), s(service);
    if (h.empty() || h.find('\0') != std::string::npos || s.find('\0') != std::string::npos) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
    }
    struct outcome {
        int rc = 0;
        int err = 0;
        std::vector<address> found;
    };
    outcome out;
    try {
        out = weft::offload([&] {
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
        });
    } catch (const std::system_error& e) {  // the offload pool could not start
        ec = e.code();
        return {};
    }
    if (out.rc == EAI_SYSTEM) ec = std::error_code(out.err, std::generic_category());
    else if (out.rc != 0) ec = std::error_code(out.rc, resolve_category());
    return std::move(out.found);
}

std::vector<address> resolve(std::string_view host, std::string_view service) {
    std::error_code ec;
    auto r = resolve(host, service, ec);
    if (ec)
        throw std::system_error(ec, "weft::net::resolve(\"" + std::string(host) + "\", \"" +
                                        std::string(service) + "\")");
    return r;
}

}  // namespace weft::net
