// Shared helpers of the weft::net tests (net_test.cpp, net_wait_test.cpp,
// net_stress_test.cpp): listeners, echo peers, fibers that are always joined.
#pragma once


#include "context/annotate.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "weft/weft.hpp"

namespace weft_net_test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using weft::net::address;
using weft::net::tcp_listener;
using weft::net::tcp_stream;

// Every fiber that blocks in these tests runs under a deadline_scope this
// long, so a wait the runtime never ends fails the test with timed_out
// instead of hanging it.
constexpr auto kGuard = 20s;

// Spawns a fiber and joins it on scope exit (cancelling it first), so an
// early return or an exception in a test body never leaves a joinable handle.
class scoped_fiber {
public:
    template <class F>
    explicit scoped_fiber(F&& fn) : h_(weft::spawn(std::forward<F>(fn))) {}
    scoped_fiber(scoped_fiber&&) noexcept = default;
    ~scoped_fiber() {
        if (!h_.joinable()) return;
        h_.cancel();
        try {
            h_.join();
        } catch (...) {
            ADD_FAILURE() << "a fiber ended with an exception";
        }
    }
    void join() { h_.join(); }
    void cancel() { h_.cancel(); }
    bool joinable() const noexcept { return h_.joinable(); }

private:
    weft::fiber_handle h_;
};

// Whether this machine can bind a socket of `type` to ::1 (checked off-fiber, raw).
inline bool have_ipv6_loopback(int type = SOCK_STREAM) {
    const int fd = ::socket(AF_INET6, type, 0);
    if (fd < 0) return false;
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    return ok;
}

template <class F>
std::error_code thrown_code(F&& fn) {
    try {
        fn();
    } catch (const std::system_error& e) {
        return e.code();
    }
    return {};
}

struct conn_pair {
    tcp_stream client;
    tcp_stream server;
};

// Accepts on one fiber while this one connects; both ends are open on success.
inline conn_pair connect_pair(tcp_listener& l) {
    conn_pair p;
    std::error_code aec, cec;
    scoped_fiber acceptor([&] { p.server = l.accept(aec, 10s); });
    p.client = tcp_stream::connect(l.local_address(), cec, 10s);
    acceptor.join();
    EXPECT_FALSE(aec) << "accept: " << aec.message();
    EXPECT_FALSE(cec) << "connect: " << cec.message();
    EXPECT_TRUE(p.client.is_open());
    EXPECT_TRUE(p.server.is_open());
    return p;
}

inline tcp_listener listen_v4() { return tcp_listener::bind(address::loopback_v4(0)); }

// Reads and writes back until EOF or an error.
inline void echo_until_eof(tcp_stream& s) {
    std::array<char, 4096> buf;
    for (int i = 0; i < 1'000'000; ++i) {
        std::error_code ec;
        const std::size_t n = s.read(buf.data(), buf.size(), ec);
        if (ec || n == 0) return;
        s.write_all(buf.data(), n, ec);
        if (ec) return;
    }
}

inline std::vector<unsigned char> pattern(std::size_t n, std::uint32_t seed) {
    std::vector<unsigned char> v(n);
    std::mt19937 rng(seed);
    for (std::size_t i = 0; i < n; i += 4) {
        const std::uint32_t x = rng();
        for (std::size_t k = 0; k < 4 && i + k < n; ++k) v[i + k] = static_cast<unsigned char>(x >> (8 * k));
    }
    return v;
}

inline std::size_t first_mismatch(const std::vector<unsigned char>& a, const std::vector<unsigned char>& b) {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i)
        if (a[i] != b[i]) return i;
    return n;
}

// Writes one byte to `peer` after `after` unless `done` is set first: a read
// that should have timed out gets data instead, and the test fails, not hangs.
inline scoped_fiber watchdog(tcp_stream& peer, const bool& done, std::chrono::milliseconds after) {
    return scoped_fiber([&peer, &done, after] {
        const auto until = steady::now() + after;
        while (!done && steady::now() < until) {
            std::error_code ec;
            weft::this_fiber::sleep_for(5ms, ec);
            if (ec) return;
        }
        if (done) return;
        const char b = 'w';
        std::error_code ec;
        peer.write(&b, 1, ec);
    });
}

}  // namespace weft_net_test
