// weft::net basics: address parsing, TCP echo over IPv4 and IPv6, large
// transfers, EOF, refused connects, bad input. Loopback only; every wait is bounded.
#include <gtest/gtest.h>

#include "net_test_support.hpp"

namespace {
using namespace weft_net_test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using weft::net::address;
using weft::net::tcp_listener;
using weft::net::tcp_stream;

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
