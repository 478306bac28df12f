// weft::net::address: an IPv4 or IPv6 socket address, parsed from text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace weft::net {

class address {
public:
    address() noexcept = default;

    // "127.0.0.1:8080", "[::1]:80", "localhost:6379". "localhost" means the
    // IPv4 loopback; other host names need weft::net::resolve (or the string
    // forms of tcp_stream::connect and tcp_listener::bind, which resolve).
    // A bad address gives std::errc::invalid_argument.
    static address parse(std::string_view text, std::error_code& ec);
    static address parse(std::string_view text);  // throws std::system_error
    static address loopback_v4(std::uint16_t port) noexcept;
    static address loopback_v6(std::uint16_t port) noexcept;
    static address any_v4(std::uint16_t port) noexcept;  // 0.0.0.0:port
    static address any_v6(std::uint16_t port) noexcept;  // [::]:port

    // An IPv4 address an IPv6 socket reports as v4-mapped ([::ffff:1.2.3.4]:p,
    // an IPv4 peer of a dual-stack listener) as the plain IPv4 one; any other
    // address as it is.
    address unmapped() const noexcept;

    bool empty() const noexcept { return size_ == 0; }
    bool is_v6() const noexcept;
    std::uint16_t port() const noexcept;
    std::string to_string() const;  // "127.0.0.1:8080", "[::1]:80"

    // The raw sockaddr, for the platform layer.
    const void* data() const noexcept { return storage_; }
    void* data() noexcept { return storage_; }
    std::uint32_t size() const noexcept { return size_; }
    void set_size(std::uint32_t n) noexcept { size_ = n; }
    static constexpr std::uint32_t capacity = 28;  // sizeof(sockaddr_in6)

    friend bool operator==(const address& a, const address& b) noexcept;

private:
    alignas(8) unsigned char storage_[capacity] = {};
    std::uint32_t size_ = 0;
};

}  // namespace weft::net
