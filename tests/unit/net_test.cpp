// weft::net: address parsing, TCP echo over IPv4 and IPv6, large transfers,
// EOF, refused connects, deadlines and deadline_scope, cancellation, close
// while blocked, peer reset without SIGPIPE, many connections on one worker,
// a spinning fiber beside I/O, accept under fd exhaustion, stale readiness
// after fd reuse, and bad input. Loopback only; every loop and wait is bounded.
#include <gtest/gtest.h>

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

namespace {

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
conn_pair connect_pair(tcp_listener& l) {
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

tcp_listener listen_v4() { return tcp_listener::bind(address::loopback_v4(0)); }

// Reads and writes back until EOF or an error.
void echo_until_eof(tcp_stream& s) {
    std::array<char, 4096> buf;
    for (int i = 0; i < 1'000'000; ++i) {
        std::error_code ec;
        const std::size_t n = s.read(buf.data(), buf.size(), ec);
        if (ec || n == 0) return;
        s.write_all(buf.data(), n, ec);
        if (ec) return;
    }
}

std::vector<unsigned char> pattern(std::size_t n, std::uint32_t seed) {
    std::vector<unsigned char> v(n);
    std::mt19937 rng(seed);
    for (std::size_t i = 0; i < n; i += 4) {
        const std::uint32_t x = rng();
        for (std::size_t k = 0; k < 4 && i + k < n; ++k) v[i + k] = static_cast<unsigned char>(x >> (8 * k));
    }
    return v;
}

std::size_t first_mismatch(const std::vector<unsigned char>& a, const std::vector<unsigned char>& b) {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i)
        if (a[i] != b[i]) return i;
    return n;
}

// Writes one byte to `peer` after `after` unless `done` is set first: a read
// that should have timed out gets data instead, and the test fails, not hangs.
scoped_fiber watchdog(tcp_stream& peer, const bool& done, std::chrono::milliseconds after) {
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

// ---- address ------------------------------------------------------------------

TEST(Address, ParsesGoodAddresses) {
    struct good {
        const char* text;
        bool v6;
        std::uint16_t port;
        const char* canonical;
    };
    const good cases[] = {
        {"127.0.0.1:8080", false, 8080, "127.0.0.1:8080"},
        {"[::1]:80", true, 80, "[::1]:80"},
        {"localhost:6379", false, 6379, "127.0.0.1:6379"},
        {"127.0.0.1:0", false, 0, "127.0.0.1:0"},
        {"127.0.0.1:65535", false, 65535, "127.0.0.1:65535"},
        {"[::1]:65535", true, 65535, "[::1]:65535"},
        {"[::1]:0", true, 0, "[::1]:0"},
        {"0.0.0.0:1", false, 1, "0.0.0.0:1"},
        {"10.20.30.40:443", false, 443, "10.20.30.40:443"},
        {"[2001:db8::1]:443", true, 443, "[2001:db8::1]:443"},
    };
    for (const good& c : cases) {
        SCOPED_TRACE(c.text);
        std::error_code ec = std::make_error_code(std::errc::io_error);  // must be cleared
        const address a = address::parse(c.text, ec);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_FALSE(a.empty());
        EXPECT_EQ(a.is_v6(), c.v6);
        EXPECT_EQ(a.port(), c.port);
        EXPECT_EQ(a.to_string(), c.canonical);
        EXPECT_EQ(address::parse(c.text), a);  // the throwing form agrees
        // to_string round trip
        std::error_code ec2;
        EXPECT_EQ(address::parse(a.to_string(), ec2), a);
        EXPECT_FALSE(ec2);
        // the raw sockaddr matches the family
        const auto* sa = static_cast<const sockaddr*>(a.data());
        EXPECT_EQ(static_cast<int>(sa->sa_family), c.v6 ? AF_INET6 : AF_INET);
        EXPECT_EQ(a.size(), c.v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    }
}

TEST(Address, LoopbackHelpersAndEquality) {
    EXPECT_EQ(address::loopback_v4(8080), address::parse("127.0.0.1:8080"));
    EXPECT_EQ(address::loopback_v6(80), address::parse("[::1]:80"));
    EXPECT_EQ(address::parse("localhost:1"), address::loopback_v4(1));
    EXPECT_FALSE(address::loopback_v4(1) == address::loopback_v4(2));
    EXPECT_FALSE(address::loopback_v4(1) == address::loopback_v6(1));
    EXPECT_EQ(address::loopback_v4(0).to_string(), "127.0.0.1:0");
    EXPECT_EQ(address::loopback_v6(65535).to_string(), "[::1]:65535");
    EXPECT_TRUE(address().empty());
    EXPECT_FALSE(address::loopback_v4(0).empty());
}

TEST(Address, RejectsBadAddresses) {
    const char* bad[] = {
        "",
        "1.2.3.4",
        "1.2.3.4:",
        "1.2.3.4:99999",
        "1.2.3.4:65536",
        "1.2.3.4:-1",
        "1.2.3.4:80x",
        "1.2.3.4:8 0",
        "1.2.3.4:80:90",
        "256.1.2.3:80",
        "1.2.3:80",
        "[::1",
        "[::1]",
        "[::1]:",
        "[::1]80",
        "[::1]:99999",
        "[1.2.3.4]:80",
        "::1:80",
        "host.example:80",
        "example.com:443",
        "localhost",
        "localhost:",
        "localhost:99999",
        "garbage",
        "!@#$%^&*()",
        ":::",
        "[]:80",
    };
    for (const char* text : bad) {
        SCOPED_TRACE(std::string("'") + text + "'");
        std::error_code ec;
        (void)address::parse(text, ec);
        EXPECT_EQ(ec, std::errc::invalid_argument) << ec.message();
        EXPECT_EQ(thrown_code([&] { (void)address::parse(text); }), std::errc::invalid_argument);
    }
}

// ---- echo ---------------------------------------------------------------------

void echo_round_trip(const address& at) {
    tcp_listener l = tcp_listener::bind(at);
    const address la = l.local_address();
    EXPECT_NE(la.port(), 0);
    EXPECT_EQ(la.is_v6(), at.is_v6());
    address server_saw_peer;
    scoped_fiber server([&] {
        weft::deadline_scope guard{kGuard};
        std::error_code ec;
        tcp_stream s = l.accept(ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(s.local_address(), la);
        server_saw_peer = s.peer_address();
        echo_until_eof(s);
    });
    weft::deadline_scope guard{kGuard};
    std::error_code ec;
    tcp_stream c = tcp_stream::connect(la, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(c.peer_address(), la);
    EXPECT_EQ(c.local_address().is_v6(), at.is_v6());
    c.set_nodelay(true, ec);
    EXPECT_FALSE(ec);
    for (int round = 0; round < 5; ++round) {
        const std::string msg = "hello, weft #" + std::to_string(round);
        EXPECT_EQ(c.write_all(msg.data(), msg.size(), ec), msg.size());
        EXPECT_FALSE(ec);
        std::string got(msg.size(), '\0');
        EXPECT_EQ(c.read_exact(got.data(), got.size(), ec), msg.size());
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(got, msg);
    }
    c.shutdown_write();
    char x;
    EXPECT_EQ(c.read(&x, 1, ec), 0u);  // the server closed after our EOF
    EXPECT_FALSE(ec);
    server.join();
    EXPECT_EQ(server_saw_peer, c.local_address());
}

TEST(Tcp, EchoOverIPv4) {
    weft::run([] { echo_round_trip(address::loopback_v4(0)); });
}

TEST(Tcp, EchoOverIPv6) {
    bool unavailable = false;
    weft::run([&] {
        std::error_code ec;
        tcp_listener probe = tcp_listener::bind(address::loopback_v6(0), ec);
        if (ec == std::errc::address_not_available || ec == std::errc::address_family_not_supported) {
            unavailable = true;
            return;
        }
        ASSERT_FALSE(ec) << ec.message();
        probe.close();
        echo_round_trip(address::loopback_v6(0));
    });
    if (unavailable) GTEST_SKIP() << "no IPv6 loopback here";
}

TEST(Tcp, ThrowingFormsWork) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        tcp_stream server;
        scoped_fiber acceptor([&] { server = l.accept(); });
        tcp_stream c = tcp_stream::connect(l.local_address());
        acceptor.join();
        c.set_nodelay(true);
        EXPECT_EQ(c.write("abc", 3), 3u);
        EXPECT_EQ(c.write_all("def", 3), 3u);
        char buf[6];
        EXPECT_EQ(server.read_exact(buf, 6), 6u);
        EXPECT_EQ(std::string(buf, 6), "abcdef");
        c.shutdown_write();
        EXPECT_EQ(server.read(buf, 6), 0u);
    });
}

// ---- large transfers ------------------------------------------------------------

constexpr std::size_t kLarge = 8u << 20;

TEST(Tcp, LargePayloadReadInSmallChunks) {
    const auto data = pattern(kLarge, 0xC0FFEE);
    weft::run([&] {
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code wec;
        std::size_t written = 0;
        scoped_fiber writer([&] {
            weft::deadline_scope guard{kGuard};
            written = p.client.write_all(data.data(), data.size(), wec);
            std::error_code sec;
            p.client.shutdown_write(sec);
        });
        weft::deadline_scope guard{kGuard};
        std::vector<unsigned char> got;
        got.reserve(kLarge);
        std::array<unsigned char, 1500> buf;
        std::mt19937 rng(7);
        std::error_code rec;
        bool eof = false;
        for (std::size_t i = 0; i <= kLarge; ++i) {  // each read returns at least one byte
            const std::size_t want = 1 + rng() % buf.size();
            const std::size_t n = p.server.read(buf.data(), want, rec);
            if (rec) break;
            if (n == 0) {
                eof = true;
                break;
            }
            EXPECT_LE(n, want);
            got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
        }
        writer.join();
        EXPECT_FALSE(wec) << wec.message();
        EXPECT_EQ(written, kLarge);
        EXPECT_FALSE(rec) << rec.message();
        EXPECT_TRUE(eof);
        EXPECT_EQ(got.size(), kLarge);
        EXPECT_EQ(first_mismatch(got, data), std::min(got.size(), data.size()));
    });
}

TEST(Tcp, LargePayloadWithReadExact) {
    const auto data = pattern(kLarge, 99);
    weft::run([&] {
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code wec;
        std::size_t written = 0;
        scoped_fiber writer([&] {
            weft::deadline_scope guard{kGuard};
            written = p.client.write_all(data.data(), data.size(), wec);
        });
        weft::deadline_scope guard{kGuard};
        std::vector<unsigned char> got(kLarge);
        std::error_code rec;
        // an odd split: a prefix, then the rest
        const std::size_t first = 1'000'003;
        EXPECT_EQ(p.server.read_exact(got.data(), first, rec), first);
        EXPECT_FALSE(rec) << rec.message();
        EXPECT_EQ(p.server.read_exact(got.data() + first, kLarge - first, rec), kLarge - first);
        EXPECT_FALSE(rec) << rec.message();
        writer.join();
        EXPECT_FALSE(wec);
        EXPECT_EQ(written, kLarge);
        EXPECT_EQ(first_mismatch(got, data), kLarge);
    });
}

// ---- EOF --------------------------------------------------------------------------

TEST(Tcp, ReadReturnsZeroAfterPeerShutdownWrite) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        p.client.write_all("hello", 5, ec);
        p.client.shutdown_write(ec);
        EXPECT_FALSE(ec);
        char buf[16];
        std::size_t total = 0;
        for (int i = 0; i < 5 && total < 5; ++i) total += p.server.read(buf + total, sizeof buf - total, ec);
        EXPECT_EQ(total, 5u);
        EXPECT_EQ(std::string(buf, 5), "hello");
        EXPECT_EQ(p.server.read(buf, sizeof buf, ec), 0u);
        EXPECT_FALSE(ec);
        EXPECT_EQ(p.server.read(buf, sizeof buf, ec), 0u);  // and again
        EXPECT_FALSE(ec);
        // half-close: the other direction still works
        EXPECT_EQ(p.server.write_all("back", 4, ec), 4u);
        EXPECT_EQ(p.client.read_exact(buf, 4, ec), 4u);
        EXPECT_FALSE(ec);
        EXPECT_EQ(std::string(buf, 4), "back");
    });
}

TEST(Tcp, ReadExactReportsEofWithThePartialCount) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        p.client.write_all("abc", 3, ec);
        p.client.shutdown_write();
        char buf[10] = {};
        EXPECT_EQ(p.server.read_exact(buf, sizeof buf, ec), 3u);
        EXPECT_EQ(ec, weft::net::net_errc::eof) << ec.message();
        EXPECT_TRUE(ec.category() == weft::net::net_category());
        EXPECT_FALSE(ec.message().empty());
        EXPECT_EQ(std::string(buf, 3), "abc");
        // the throwing form throws eof
        EXPECT_EQ(thrown_code([&] { p.server.read_exact(buf, 1); }), weft::net::net_errc::eof);
    });
}

// ---- connect ----------------------------------------------------------------------

TEST(Tcp, ConnectToAClosedPortIsRefused) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        const address at = l.local_address();
        l.close();
        EXPECT_FALSE(l.is_open());
        std::error_code ec;
        tcp_stream c = tcp_stream::connect(at, ec, 5s);
        EXPECT_EQ(ec, std::errc::connection_refused) << ec.message();
        EXPECT_FALSE(c.is_open());
        EXPECT_EQ(thrown_code([&] { (void)tcp_stream::connect(at, 5s); }), std::errc::connection_refused);
    });
}

// ---- deadlines --------------------------------------------------------------------

TEST(Deadline, AlreadyPassedTimesOutAtOnce) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        std::error_code ec;
        (void)l.accept(ec, steady::now() - 1s);  // nobody is connecting
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        conn_pair p = connect_pair(l);
        char b;
        p.server.read(&b, 1, ec, steady::now() - 1s);  // nothing sent
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        p.server.read_exact(&b, 1, ec, steady::now() - 1s);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_EQ(thrown_code([&] { p.server.read(&b, 1, steady::now() - 1s); }), std::errc::timed_out);
        {
            weft::deadline_scope past{steady::now() - 1s};
            (void)l.accept(ec);
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
            p.server.read(&b, 1, ec);
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        }
        // the stream still works afterwards
        p.client.write_all("k", 1, ec);
        EXPECT_EQ(p.server.read(&b, 1, ec), 1u);
        EXPECT_FALSE(ec);
        EXPECT_EQ(b, 'k');
    });
}

TEST(Deadline, ExpiresWhileBlockedInRead) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        bool done = false;
        scoped_fiber dog = watchdog(p.client, done, 3s);
        char b;
        std::error_code ec;
        const auto start = steady::now();
        p.server.read(&b, 1, ec, start + 50ms);
        const auto elapsed = steady::now() - start;
        done = true;
        dog.join();
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_GE(elapsed, 50ms);
        // a duration converts to a deadline from now
        const auto start2 = steady::now();
        p.server.read(&b, 1, ec, 50ms);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_GE(steady::now() - start2, 50ms);
        // the timed-out wait left nothing behind: a later read gets data
        p.client.write_all("d", 1, ec);
        EXPECT_EQ(p.server.read(&b, 1, ec, 10s), 1u);
        EXPECT_FALSE(ec);
    });
}

TEST(Deadline, ExpiresWhileBlockedInAccept) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        std::error_code ec;
        const auto start = steady::now();
        (void)l.accept(ec, start + 50ms);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_GE(steady::now() - start, 50ms);
        conn_pair p = connect_pair(l);  // the listener still works
        EXPECT_TRUE(p.server.is_open());
    });
}

TEST(Deadline, ScopeAroundARead) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        bool done = false;
        scoped_fiber dog = watchdog(p.client, done, 3s);
        char b;
        std::error_code ec;
        const auto start = steady::now();
        {
            weft::deadline_scope s{50ms};
            p.server.read(&b, 1, ec);
        }
        const auto elapsed = steady::now() - start;
        done = true;
        dog.join();
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_GE(elapsed, 50ms);
        // the call's own later deadline does not extend the scope's
        done = false;
        scoped_fiber dog2 = watchdog(p.client, done, 3s);
        {
            weft::deadline_scope s{50ms};
            p.server.read(&b, 1, ec, 10s);
        }
        done = true;
        dog2.join();
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
    });
}

TEST(Deadline, NestedScopesTakeTheEarliest) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        char b;
        std::error_code ec;
        {  // outer earlier than inner: the outer one rules
            bool done = false;
            scoped_fiber dog = watchdog(p.client, done, 2s);
            const auto start = steady::now();
            {
                weft::deadline_scope outer{50ms};
                weft::deadline_scope inner{30s};
                p.server.read(&b, 1, ec);
            }
            const auto elapsed = steady::now() - start;
            done = true;
            dog.join();
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
            EXPECT_GE(elapsed, 50ms);
            if (!ec) {  // the watchdog's byte arrived: drain nothing else
                EXPECT_EQ(b, 'w');
            }
        }
        {  // inner earlier than outer: the inner one rules, and leaving it restores the outer
            bool done = false;
            scoped_fiber dog = watchdog(p.client, done, 2s);
            weft::deadline_scope outer{30s};
            {
                weft::deadline_scope inner{50ms};
                p.server.read(&b, 1, ec);
            }
            done = true;
            dog.join();
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
            // the expired inner deadline is gone: a read that waits past it succeeds
            bool done2 = false;
            scoped_fiber late = watchdog(p.client, done2, 200ms);
            const auto start = steady::now();
            EXPECT_EQ(p.server.read(&b, 1, ec), 1u);
            EXPECT_FALSE(ec) << ec.message();
            EXPECT_GE(steady::now() - start, 150ms);
            late.join();
        }
    });
}

// ---- cancellation ------------------------------------------------------------------

TEST(Cancel, WhileBlockedInAccept) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        std::error_code first, later, later_sleep;
        bool returned = false;
        auto h = weft::spawn([&] {
            weft::deadline_scope g{kGuard};
            (void)l.accept(first);
            returned = true;
            (void)l.accept(later, 5s);  // canceled stays canceled
            weft::this_fiber::sleep_for(5s, later_sleep);
        });
        weft::this_fiber::sleep_for(20ms);
        EXPECT_FALSE(returned);
        h.cancel();
        h.join();
        EXPECT_EQ(first, std::errc::operation_canceled) << first.message();
        EXPECT_EQ(later, std::errc::operation_canceled) << later.message();
        EXPECT_EQ(later_sleep, std::errc::operation_canceled) << later_sleep.message();
        conn_pair p = connect_pair(l);  // the listener is still usable by another fiber
        EXPECT_TRUE(p.server.is_open());
    });
}

TEST(Cancel, WhileBlockedInRead) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code first, later;
        auto h = weft::spawn([&] {
            weft::deadline_scope g{kGuard};
            char b;
            p.server.read(&b, 1, first);
            p.server.read(&b, 1, later, 5s);
        });
        weft::this_fiber::sleep_for(20ms);
        h.cancel();
        h.join();
        EXPECT_EQ(first, std::errc::operation_canceled) << first.message();
        EXPECT_EQ(later, std::errc::operation_canceled) << later.message();
        // the stream is still usable by another fiber
        std::error_code ec;
        char b = 0;
        scoped_fiber reader([&] { p.server.read(&b, 1, ec, 10s); });
        weft::this_fiber::yield();
        p.client.write_all("r", 1);
        reader.join();
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(b, 'r');
    });
}

TEST(Cancel, WhileBlockedInSleep) {
    weft::run([] {
        std::error_code first, later;
        auto h = weft::spawn([&] {
            weft::this_fiber::sleep_for(10s, first);
            weft::this_fiber::sleep_for(10s, later);
        });
        weft::this_fiber::sleep_for(20ms);
        h.cancel();
        h.join();
        EXPECT_EQ(first, std::errc::operation_canceled) << first.message();
        EXPECT_EQ(later, std::errc::operation_canceled) << later.message();
    });
}

TEST(Cancel, BeforeTheFirstBlockingCall) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code read_ec, accept_ec, throw_ec;
        auto h = weft::spawn([&] {
            char b;
            p.server.read(&b, 1, read_ec, 5s);
            (void)l.accept(accept_ec, 5s);
            throw_ec = thrown_code([&] { p.server.read(&b, 1, 5s); });
        });
        h.cancel();  // it has not run yet
        h.join();
        EXPECT_EQ(read_ec, std::errc::operation_canceled) << read_ec.message();
        EXPECT_EQ(accept_ec, std::errc::operation_canceled) << accept_ec.message();
        EXPECT_EQ(throw_ec, std::errc::operation_canceled) << throw_ec.message();
    });
}

// ---- close while blocked -------------------------------------------------------------

TEST(Close, WakesAFiberBlockedReadingWithBadFileDescriptor) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        bool returned = false;
        scoped_fiber reader([&] {
            weft::deadline_scope g{kGuard};
            char b;
            p.server.read(&b, 1, ec);
            returned = true;
        });
        weft::this_fiber::sleep_for(20ms);
        EXPECT_FALSE(returned);
        p.server.close();
        EXPECT_FALSE(p.server.is_open());
        reader.join();
        EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
        char b;
        EXPECT_EQ(p.client.read(&b, 1, ec, 10s), 0u);  // the peer sees EOF
        EXPECT_FALSE(ec) << ec.message();
    });
}

TEST(Close, WakesAFiberBlockedInAccept) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        std::error_code ec;
        scoped_fiber acceptor([&] {
            weft::deadline_scope g{kGuard};
            (void)l.accept(ec);
        });
        weft::this_fiber::sleep_for(20ms);
        l.close();
        acceptor.join();
        EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
    });
}

// ---- peer reset -------------------------------------------------------------------------

TEST(Tcp, PeerResetMidWriteIsAnErrorNotSigpipe) {
    std::signal(SIGPIPE, SIG_DFL);  // a SIGPIPE would kill this process
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        scoped_fiber server([&] {
            weft::deadline_scope g{kGuard};
            std::error_code ec;
            tcp_stream s = l.accept(ec);
            ASSERT_FALSE(ec) << ec.message();
            weft::this_fiber::sleep_for(50ms);  // let the client fill the buffers and block
            const linger lg{1, 0};
            ASSERT_EQ(::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
            s.close();  // RST
        });
        std::error_code ec;
        tcp_stream c = tcp_stream::connect(l.local_address(), ec);
        ASSERT_FALSE(ec) << ec.message();
        const std::vector<unsigned char> big(64u << 20, 0x5a);
        const std::size_t sent = c.write_all(big.data(), big.size(), ec);
        EXPECT_TRUE(ec == std::errc::connection_reset || ec == std::errc::broken_pipe) << ec.message();
        EXPECT_LT(sent, big.size());
        // and again, once the connection is known dead
        c.write_all(big.data(), 4096, ec);
        EXPECT_TRUE(ec == std::errc::connection_reset || ec == std::errc::broken_pipe) << ec.message();
        server.join();
    });
}

// ---- many connections, one worker --------------------------------------------------------

TEST(Tcp, ManyConcurrentConnectionsOnOneWorker) {
    rlimit rl{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    const long soft = rl.rlim_cur == RLIM_INFINITY ? 1'000'000L : static_cast<long>(rl.rlim_cur);
#if WEFT_STRESS_LARGE
    constexpr long wanted = 10000;
#elif WEFT_ASAN || WEFT_TSAN
    constexpr long wanted = 500;  // TSan tracks every fiber like a thread, up to 8128
#else
    constexpr long wanted = 2000;
#endif
    const int n = static_cast<int>(std::min(wanted, (soft - 64) / 2));
    if (n < 8) GTEST_SKIP() << "RLIMIT_NOFILE too low: " << soft;
    constexpr int kMessages = 4;
    constexpr std::size_t kMsgSize = 48;

    int ok_clients = 0;
    int accepted = 0;
    weft::run([&] {
        weft::deadline_scope guard{60s};
        tcp_listener l = listen_v4();
        const address at = l.local_address();
        std::vector<weft::fiber_handle> echoes;
        echoes.reserve(static_cast<std::size_t>(n));
        scoped_fiber acceptor([&] {
            weft::deadline_scope g{60s};
            for (int i = 0; i < n; ++i) {
                std::error_code ec;
                tcp_stream s = l.accept(ec);
                if (ec) {
                    ADD_FAILURE() << "accept #" << i << ": " << ec.message();
                    return;
                }
                ++accepted;
                echoes.push_back(weft::spawn([s = std::move(s)]() mutable {
                    weft::deadline_scope g2{60s};
                    echo_until_eof(s);
                }));
            }
        });
        std::vector<weft::fiber_handle> clients;
        clients.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i)
            clients.push_back(weft::spawn([&, i] {
                weft::deadline_scope g{60s};
                std::error_code ec;
                tcp_stream c = tcp_stream::connect(at, ec);
                if (ec) {
                    ADD_FAILURE() << "connect #" << i << ": " << ec.message();
                    return;
                }
                for (int m = 0; m < kMessages; ++m) {
                    std::string msg = "client " + std::to_string(i) + " message " + std::to_string(m);
                    msg.resize(kMsgSize, '.');
                    c.write_all(msg.data(), msg.size(), ec);
                    if (ec) {
                        ADD_FAILURE() << "write #" << i << ": " << ec.message();
                        return;
                    }
                    std::string got(kMsgSize, '\0');
                    c.read_exact(got.data(), got.size(), ec);
                    if (ec || got != msg) {
                        ADD_FAILURE() << "echo #" << i << ": " << ec.message() << " got '" << got << "'";
                        return;
                    }
                    weft::this_fiber::yield();
                }
                ++ok_clients;
            }));
        for (auto& h : clients) h.join();
        acceptor.join();
        for (auto& h : echoes) h.join();
    });
    EXPECT_EQ(accepted, n);
    EXPECT_EQ(ok_clients, n);
}

// ---- a spinning fiber does not starve I/O ---------------------------------------------------

TEST(Tcp, SpinningFiberDoesNotStarveIo) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        bool echo_done = false;
        bool spinning = false;
        bool spinner_gave_up = false;
        long spins = 0;
        scoped_fiber spinner([&] {
            spinning = true;
            const auto until = steady::now() + 5s;
            while (!echo_done) {
                if (steady::now() >= until) {
                    spinner_gave_up = true;
                    break;
                }
                ++spins;
                weft::this_fiber::yield();
            }
            spinning = false;
        });
        weft::this_fiber::yield();  // the spinner is running from here on
        ASSERT_TRUE(spinning);
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        scoped_fiber server([&] {
            weft::deadline_scope g{kGuard};
            echo_until_eof(p.server);
        });
        std::error_code ec;
        char buf[4];
        for (int i = 0; i < 3; ++i) {
            p.client.write_all("ping", 4, ec);
            p.client.read_exact(buf, 4, ec);
            EXPECT_FALSE(ec) << ec.message();
            EXPECT_EQ(std::string(buf, 4), "ping");
        }
        const bool completed_while_spinning = spinning;
        echo_done = true;
        p.client.shutdown_write();
        server.join();
        spinner.join();
        EXPECT_TRUE(completed_while_spinning);
        EXPECT_FALSE(spinner_gave_up) << "the echo only finished after the spinner stopped";
        EXPECT_GT(spins, 0);
    });
}

// ---- accept under fd exhaustion ---------------------------------------------------------------

std::vector<int> open_fds() {
    std::vector<int> fds;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        const int own = ::dirfd(d);
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && std::atoi(e->d_name) != own)
                fds.push_back(std::atoi(e->d_name));
        ::closedir(d);
    } else {
        for (int fd = 0; fd < 4096; ++fd)
            if (::fcntl(fd, F_GETFD) != -1) fds.push_back(fd);
    }
    return fds;
}

// The RLIMIT_NOFILE soft limit that leaves exactly `free_slots` fd numbers
// free below it (new fds take the lowest free number under the limit; open
// fds above it stay open but do not count).
rlim_t limit_leaving(int free_slots) {
    const std::vector<int> open = open_fds();
    int free = 0;
    for (int fd = 0; fd < 1'000'000; ++fd) {
        if (std::find(open.begin(), open.end(), fd) != open.end()) continue;
        if (++free == free_slots) return static_cast<rlim_t>(fd + 1);
    }
    return 1'000'000;
}

// Runs in a death-test child: lowers RLIMIT_NOFILE, fills the table with
// connections until accept() hits EMFILE, then frees some and checks that
// the pending connection and a new one are both accepted and served.
int fd_exhaustion_child() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 10;
    rl.rlim_cur = limit_leaving(16);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return 11;

    int rc = 0;
    auto fail = [&rc](int code, const char* what, std::error_code ec = {}) {
        std::fprintf(stderr, "fd exhaustion: %s%s%s\n", what, ec ? ": " : "", ec ? ec.message().c_str() : "");
        std::fflush(stderr);
        if (rc == 0) rc = code;
    };
    weft::run([&] {
        weft::deadline_scope guard{30s};
        std::error_code ec;
        tcp_listener l = tcp_listener::bind(address::loopback_v4(0), ec);
        if (ec) return fail(12, "bind", ec);
        const address at = l.local_address();
        int reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // freed to leave exactly one fd

        bool stop = false;
        std::vector<weft::fiber_handle> echoes;
        auto acceptor = weft::spawn([&] {
            weft::deadline_scope g{30s};
            const auto until = steady::now() + 25s;
            while (!stop && steady::now() < until) {
                std::error_code aec;
                tcp_stream s = l.accept(aec, 100ms);
                if (aec == std::errc::timed_out) continue;
                if (aec) return fail(13, "accept", aec);  // EMFILE must not surface
                echoes.push_back(weft::spawn([s = std::move(s)]() mutable {
                    weft::deadline_scope g2{30s};
                    echo_until_eof(s);
                }));
            }
        });

        std::vector<tcp_stream> clients;
        bool pending = false;
        for (int i = 0; i < 64 && !pending && rc == 0; ++i) {
            std::error_code cec;
            tcp_stream c = tcp_stream::connect(at, cec, 2s);
            if (cec == std::errc::too_many_files_open) {
                if (reserve < 0) {
                    fail(14, "out of fds without accept ever hitting EMFILE");
                    break;
                }
                ::close(reserve);  // exactly one free fd: the next client takes it, accept gets none
                reserve = -1;
                continue;
            }
            if (cec) {
                fail(15, "connect", cec);
                break;
            }
            const char b = static_cast<char>('a' + i % 26);
            char r = 0;
            c.write_all(&b, 1, cec);
            if (!cec) c.read_exact(&r, 1, cec, 300ms);
            clients.push_back(std::move(c));
            if (cec == std::errc::timed_out) {
                pending = true;  // accept could not get an fd for it
            } else if (cec || r != b) {
                fail(16, "echo before exhaustion", cec);
            }
        }
        if (rc == 0 && !pending) fail(17, "never reached accept exhaustion");
        if (rc == 0) {
            const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (probe >= 0) {
                ::close(probe);
                fail(18, "the pending client timed out, yet the process has free fds");
            } else if (errno != EMFILE) {
                fail(19, "probe open failed with something other than EMFILE");
            }
        }
        if (rc == 0) {
            // free some: close three served clients; their echo fibers see EOF and close too
            for (std::size_t i = 0; i < 3 && i + 1 < clients.size(); ++i) clients[i].close();
            char r = 0;
            std::error_code pec;
            clients.back().read_exact(&r, 1, pec, 10s);
            if (pec) fail(20, "the pending client was never served", pec);
            // and a brand-new client gets accepted and served
            std::error_code nec;
            tcp_stream fresh = tcp_stream::connect(at, nec, 5s);
            if (nec) {
                fail(21, "connect after recovery", nec);
            } else {
                fresh.write_all("z", 1, nec);
                if (!nec) fresh.read_exact(&r, 1, nec, 10s);
                if (nec || r != 'z') fail(22, "echo after recovery", nec);
            }
        }
        stop = true;
        clients.clear();
        if (reserve >= 0) ::close(reserve);
        acceptor.join();
        for (auto& h : echoes) h.join();
    });
    return rc;
}

TEST(NetDeathTest, AcceptBacksOffAndRecoversFromFdExhaustion) {
    EXPECT_EXIT(std::_Exit(fd_exhaustion_child()), ::testing::ExitedWithCode(0), "");
}

// ---- stale readiness after fd reuse ------------------------------------------------------------

TEST(Tcp, StaleReadinessIsNotDeliveredAfterFdReuse) {
    bool reused = true;
    weft::run([&] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair a = connect_pair(l);
        const int fd_a = a.server.native_handle();

        std::error_code first_read, first_sleep;
        std::chrono::nanoseconds slept{};
        scoped_fiber first([&] {
            weft::deadline_scope g{kGuard};
            char b;
            a.server.read(&b, 1, first_read);
            // woken by the close; now sleep: a stale wake for fd A would cut this short
            const auto start = steady::now();
            weft::this_fiber::sleep_for(300ms, first_sleep);
            slept = steady::now() - start;
        });
        weft::this_fiber::sleep_for(20ms);
        a.server.close();
        weft::this_fiber::yield();
        EXPECT_EQ(first_read, std::errc::bad_file_descriptor) << first_read.message();

        // a new socket takes the lowest free fd: A, if nothing else is free below it
        conn_pair b = connect_pair(l);
        reused = b.client.native_handle() == fd_a;
        if (reused) {
            std::error_code rec;
            char got = 0;
            std::size_t n = 0;
            scoped_fiber second([&] {
                weft::deadline_scope g{kGuard};
                n = b.client.read(&got, 1, rec);
            });
            weft::this_fiber::yield();  // the new reader is parked on fd A now
            b.server.write_all("N", 1);  // fd A becomes readable
            second.join();
            EXPECT_FALSE(rec) << rec.message();
            EXPECT_EQ(n, 1u);
            EXPECT_EQ(got, 'N');
        }
        first.join();
        EXPECT_FALSE(first_sleep) << first_sleep.message();
        EXPECT_GE(slept, 300ms) << "the first fiber was woken during its sleep";
    });
    if (!reused) GTEST_SKIP() << "the new socket did not reuse the closed fd number";
}

// ---- bad input -------------------------------------------------------------------------------------

TEST(BadInput, ClosedStreamReportsBadFileDescriptor) {
    weft::run([] {
        tcp_stream s;
        EXPECT_FALSE(s.is_open());
        EXPECT_EQ(s.native_handle(), -1);
        char b[4] = {};
        std::error_code ec;
        s.read(b, sizeof b, ec);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
        ec.clear();
        s.write(b, sizeof b, ec);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
        ec.clear();
        s.read_exact(b, sizeof b, ec);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
        ec.clear();
        s.write_all(b, sizeof b, ec);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
        EXPECT_EQ(thrown_code([&] { s.read(b, sizeof b); }), std::errc::bad_file_descriptor);
        EXPECT_EQ(thrown_code([&] { s.write(b, sizeof b); }), std::errc::bad_file_descriptor);
        s.close();  // closing a closed stream is harmless
        EXPECT_FALSE(s.is_open());
    });
}

TEST(BadInput, WriteOfZeroBytesReturnsZero) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        const char b = 'x';
        EXPECT_EQ(p.client.write(&b, 0, ec), 0u);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(p.client.write_all(&b, 0, ec), 0u);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(p.client.write(nullptr, 0), 0u);
    });
}

TEST(BadInput, MovedFromStreamIsClosed) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        const int fd = p.client.native_handle();
        tcp_stream moved = std::move(p.client);
        EXPECT_FALSE(p.client.is_open());
        EXPECT_EQ(moved.native_handle(), fd);
        std::error_code ec;
        char b;
        p.client.read(&b, 1, ec);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        moved.write_all("m", 1, ec);
        EXPECT_FALSE(ec);
        EXPECT_EQ(p.server.read(&b, 1, ec), 1u);
        EXPECT_EQ(b, 'm');
    });
}

}  // namespace
