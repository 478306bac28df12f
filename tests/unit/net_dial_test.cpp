// Dialing and listening by "host:port" string: tcp_listener::bind(string),
// tcp_stream::connect(string), udp_socket::bind/connect(string), accept with
// the peer's address, resolve under a deadline and cancel. Real sockets on
// 127.0.0.1 and ::1 only (the ::1 parts are skipped without IPv6 loopback);
// no assertion on elapsed time, every loop bounded.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "net/host_port.hpp"
#include "net_test_support.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using weft::net::address;
using weft::net::tcp_listener;
using weft::net::tcp_stream;
using weft::net::udp_socket;
using steady = std::chrono::steady_clock;

constexpr auto io_limit = 20s;  // bounds every wait that should succeed

bool have_ipv6_loopback() { return weft_net_test::have_ipv6_loopback(SOCK_STREAM); }

using weft_net_test::thrown_code;

std::string v4(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
std::string v6(std::uint16_t port) { return "[::1]:" + std::to_string(port); }

// A port nobody listens on: bound, then closed again.
std::uint16_t closed_port() {
    tcp_listener l = tcp_listener::bind(address::loopback_v4(0));
    const std::uint16_t port = l.local_address().port();
    l.close();
    return port;
}

// Connects to `to` while a fiber accepts on l; checks that both ends agree on
// the addresses, and that one byte each way gets through.
void expect_reachable(tcp_listener& l, const std::string& to) {
    SCOPED_TRACE("connect to " + to);
    tcp_stream server;
    address peer;
    std::error_code aec;
    auto acceptor = weft::spawn([&] { server = l.accept(peer, aec, io_limit); });
    std::error_code cec;
    tcp_stream client = tcp_stream::connect(to, cec, io_limit);
    acceptor.join();
    ASSERT_FALSE(cec) << cec.message();
    ASSERT_FALSE(aec) << aec.message();
    ASSERT_TRUE(client.is_open());
    ASSERT_TRUE(server.is_open());
    EXPECT_FALSE(peer.empty());
    EXPECT_EQ(peer, client.local_address()) << peer.to_string() << " vs " << client.local_address().to_string();
    EXPECT_EQ(server.peer_address(), peer);
    EXPECT_EQ(client.peer_address(), server.local_address());
    EXPECT_EQ(client.peer_address().port(), l.local_address().port());
    char b = 'x';
    client.write_all(&b, 1, io_limit);
    char got = 0;
    server.read_exact(&got, 1, io_limit);
    EXPECT_EQ(got, 'x');
    server.write_all(&b, 1, io_limit);
    client.read_exact(&got, 1, io_limit);
    EXPECT_EQ(got, 'x');
}

// Keeps the offload pool's threads busy until release(): a lookup submitted
// meanwhile waits in the pool's queue, so it cannot finish before the test
// says so. More blockers than the pool has threads (4 unless configured),
// the rest queued ahead of any later job.
class pool_blocker {
public:
    static constexpr int count = 64;
    pool_blocker() {
        for (int i = 0; i < count; ++i)
            fibers_.push_back(weft::spawn([this] {
                ++submitted_;  // then it submits at once, with no switch in between
                weft::offload([this] {
                    std::unique_lock<std::mutex> lk(mu_);
                    cv_.wait(lk, [this] { return released_; });
                });
            }));
        for (int i = 0; i < 10'000 && submitted_.load() < count; ++i) weft::this_fiber::yield();
        EXPECT_EQ(submitted_.load(), count);
    }
    ~pool_blocker() {
        release();
        for (auto& f : fibers_) f.join();
    }
    void release() {
        {
            std::lock_guard<std::mutex> lk(mu_);
            released_ = true;
        }
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool released_ = false;
    std::atomic<int> submitted_{0};
    std::vector<weft::fiber_handle> fibers_;
};

// Runs fn on a fiber and lets it go until it blocks; the fiber must still be
// inside fn then (it waits on something only the test ends).
class blocked_call {
public:
    template <class F>
    explicit blocked_call(F fn)
        : h_(weft::spawn([this, fn]() mutable {
              entered_ = true;
              fn();
              returned_ = true;
          })) {
        for (int i = 0; i < 1000 && !entered_; ++i) weft::this_fiber::yield();
        for (int i = 0; i < 5; ++i) weft::this_fiber::yield();  // into its wait, and its helpers into theirs
        EXPECT_TRUE(entered_);
        EXPECT_FALSE(returned_) << "the call should still be waiting";
    }
    ~blocked_call() {
        if (h_.joinable()) {
            h_.cancel();
            h_.join();
        }
    }
    void cancel_and_join() {
        h_.cancel();
        h_.join();
    }
    void join() { h_.join(); }

private:
    bool entered_ = false, returned_ = false;
    weft::fiber_handle h_;
};

const char* const bad_strings[] = {
    "",
    ":",
    "host:",
    "127.0.0.1:",
    ":99999",
    ":65536",
    ":-1",
    "127.0.0.1:-1",
    "127.0.0.1:-0",
    "127.0.0.1:+80",
    "127.0.0.1: 80",
    "127.0.0.1:80 ",
    "127.0.0.1:8o",
    "127.0.0.1:4294967376",  // 2^32 + 80
    "127.0.0.1",
    "localhost",
    "[::1",
    "[::1]",
    "[::1]80",
    "[::1]:",
    "[]:80",
    "[localhost]:80",
    "[127.0.0.1]:80",
    "::1:80",
    "a:b:c",
    "::",
    "1.2.3.4:80:90",
    "local host:80",
    "tab\t:80",
    "new\nline:80",
    "[::1]:80]",
};

// ---- splitting ----------------------------------------------------------------

TEST(HostPort, SplitsEveryAcceptedForm) {
    struct good {
        const char* text;
        const char* host;
        std::uint16_t port;
        bool wildcard;
        const char* literal;  // nullptr: a name
    };
    const good cases[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080, false, "127.0.0.1:8080"},
        {"127.0.0.1:0", "127.0.0.1", 0, false, "127.0.0.1:0"},
        {"0.0.0.0:65535", "0.0.0.0", 65535, false, "0.0.0.0:65535"},
        {"[::1]:80", "::1", 80, false, "[::1]:80"},
        {"[::]:80", "::", 80, false, "[::]:80"},
        {"[2001:db8::1]:443", "2001:db8::1", 443, false, "[2001:db8::1]:443"},
        {":8080", "", 8080, true, nullptr},
        {"*:8080", "", 8080, true, nullptr},
        {":0", "", 0, true, nullptr},
        {"localhost:0", "localhost", 0, false, nullptr},
        {"db.example:5432", "db.example", 5432, false, nullptr},
        {"localhost:00080", "localhost", 80, false, nullptr},
    };
    for (const good& c : cases) {
        SCOPED_TRACE(c.text);
        weft::detail::host_port hp;
        std::error_code ec = std::make_error_code(std::errc::io_error);  // must be cleared
        ASSERT_TRUE(weft::detail::split_host_port(c.text, hp, ec)) << ec.message();
        EXPECT_FALSE(ec);
        EXPECT_EQ(hp.host, c.host);
        EXPECT_EQ(hp.port, c.port);
        EXPECT_EQ(hp.wildcard, c.wildcard);
        if (c.literal) EXPECT_EQ(hp.literal.to_string(), c.literal);
        else EXPECT_TRUE(hp.literal.empty());
    }
}

TEST(HostPort, RejectsBadStrings) {
    for (const char* text : bad_strings) {
        SCOPED_TRACE(std::string("\"") + text + "\"");
        weft::detail::host_port hp;
        std::error_code ec;
        EXPECT_FALSE(weft::detail::split_host_port(text, hp, ec));
        EXPECT_EQ(ec, std::errc::invalid_argument);
    }
    const std::string with_nul("local\0host:80", 13);
    weft::detail::host_port hp;
    std::error_code ec;
    EXPECT_FALSE(weft::detail::split_host_port(with_nul, hp, ec));
    EXPECT_EQ(ec, std::errc::invalid_argument);
    const std::string long_name(254, 'a');
    EXPECT_FALSE(weft::detail::split_host_port(long_name + ":80", hp, ec));
    EXPECT_EQ(ec, std::errc::invalid_argument);
}

TEST(HostPort, AddressHelpers) {
    EXPECT_EQ(address::any_v4(80).to_string(), "0.0.0.0:80");
    EXPECT_EQ(address::any_v6(80).to_string(), "[::]:80");
    EXPECT_EQ(address::parse("[::ffff:127.0.0.1]:5").unmapped(), address::loopback_v4(5));
    EXPECT_EQ(address::loopback_v6(5).unmapped(), address::loopback_v6(5));
    EXPECT_EQ(address::loopback_v4(5).unmapped(), address::loopback_v4(5));
    EXPECT_TRUE(address().unmapped().empty());
}

// ---- bad input through the public calls ----------------------------------------

TEST(DialBadInput, EveryCallRejectsBadStrings) {
    weft::run([] {
        for (const char* text : bad_strings) {
            SCOPED_TRACE(std::string("\"") + text + "\"");
            std::error_code ec;
            tcp_listener l = tcp_listener::bind(text, ec);
            EXPECT_EQ(ec, std::errc::invalid_argument);
            EXPECT_FALSE(l.is_open());
            EXPECT_EQ(thrown_code([&] { tcp_listener::bind(text); }), std::errc::invalid_argument);

            tcp_stream s = tcp_stream::connect(text, ec, io_limit);
            EXPECT_EQ(ec, std::errc::invalid_argument);
            EXPECT_FALSE(s.is_open());
            EXPECT_EQ(thrown_code([&] { tcp_stream::connect(text, io_limit); }), std::errc::invalid_argument);

            udp_socket u = udp_socket::bind(text, ec);
            EXPECT_EQ(ec, std::errc::invalid_argument);
            EXPECT_FALSE(u.is_open());
            EXPECT_EQ(thrown_code([&] { udp_socket::bind(text); }), std::errc::invalid_argument);
            udp_socket c;
            c.connect(text, ec);
            EXPECT_EQ(ec, std::errc::invalid_argument);
            EXPECT_FALSE(c.is_open());
            EXPECT_EQ(thrown_code([&] { c.connect(text); }), std::errc::invalid_argument);
        }
        // A wildcard host names no peer.
        for (const char* text : {":80", "*:80"}) {
            SCOPED_TRACE(text);
            std::error_code ec;
            tcp_stream::connect(text, ec, io_limit);
            EXPECT_EQ(ec, std::errc::invalid_argument);
            udp_socket u;
            u.connect(text, ec);
            EXPECT_EQ(ec, std::errc::invalid_argument);
        }
        // A negative backlog, with a good string.
        std::error_code ec;
        tcp_listener::bind("127.0.0.1:0", ec, {.backlog = -1});
        EXPECT_EQ(ec, std::errc::invalid_argument);
    });
}

TEST(DialBadInput, BindOutsideAFiberWorks) {
    // Literals need no lookup; a name is looked up on this thread.
    std::error_code ec;
    tcp_listener a = tcp_listener::bind("127.0.0.1:0", ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(a.is_open());
    tcp_listener b = tcp_listener::bind("localhost:0", ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(b.is_open());
    tcp_listener::bind("", ec);
    EXPECT_EQ(ec, std::errc::invalid_argument);
}

// ---- listening by string ----------------------------------------------------------

TEST(DialListen, LoopbackV4Literal) {
    weft::run([] {
        tcp_listener l = tcp_listener::bind("127.0.0.1:0");
        const address at = l.local_address();
        EXPECT_FALSE(at.is_v6());
        EXPECT_NE(at.port(), 0);
        EXPECT_EQ(at, address::loopback_v4(at.port()));
        expect_reachable(l, v4(at.port()));
        expect_reachable(l, "localhost:" + std::to_string(at.port()));
    });
}

TEST(DialListen, LoopbackV6Literal) {
    if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback here";
    weft::run([] {
        tcp_listener l = tcp_listener::bind("[::1]:0");
        const address at = l.local_address();
        EXPECT_EQ(at, address::loopback_v6(at.port()));
        expect_reachable(l, v6(at.port()));
        // An IPv6-only address: IPv4 clients are refused.
        std::error_code ec;
        tcp_stream::connect(v4(at.port()), ec, io_limit);
        EXPECT_EQ(ec, std::errc::connection_refused) << ec.message();
    });
}

TEST(DialListen, WildcardIsDualStack) {
    const bool v6_ok = have_ipv6_loopback();
    weft::run([&] {
        for (const char* where : {":0", "*:0"}) {
            SCOPED_TRACE(where);
            tcp_listener l = tcp_listener::bind(where);
            const address at = l.local_address();
            EXPECT_NE(at.port(), 0);
            // [::] on a host with IPv6, else 0.0.0.0.
            if (v6_ok) EXPECT_EQ(at, address::any_v6(at.port())) << at.to_string();
            else EXPECT_EQ(at, address::any_v4(at.port())) << at.to_string();
            expect_reachable(l, v4(at.port()));
            if (v6_ok) expect_reachable(l, v6(at.port()));
            expect_reachable(l, "localhost:" + std::to_string(at.port()));
        }
    });
}

TEST(DialListen, BracketedAnyIsDualStack) {
    if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback here";
    weft::run([] {
        tcp_listener l = tcp_listener::bind("[::]:0");
        const address at = l.local_address();
        EXPECT_EQ(at, address::any_v6(at.port()));
        expect_reachable(l, v6(at.port()));
        expect_reachable(l, v4(at.port()));
    });
}

TEST(DialListen, AnyV4Literal) {
    weft::run([] {
        tcp_listener l = tcp_listener::bind("0.0.0.0:0");
        const address at = l.local_address();
        EXPECT_EQ(at, address::any_v4(at.port()));
        expect_reachable(l, v4(at.port()));
    });
}

TEST(DialListen, HostNameBindsOneOfItsAddresses) {
    weft::run([] {
        const std::vector<address> names = weft::net::resolve("localhost", "0");
        ASSERT_FALSE(names.empty());
        tcp_listener l = tcp_listener::bind("localhost:0");
        const address at = l.local_address();
        EXPECT_NE(at.port(), 0);
        bool listed = false;  // bound to one of the names' addresses (theirs have port 0)
        for (const address& a : names)
            listed |= a == (at.is_v6() ? address::loopback_v6(0) : address::loopback_v4(0));
        EXPECT_TRUE(listed) << at.to_string();
        EXPECT_TRUE(at == address::loopback_v4(at.port()) || at == address::loopback_v6(at.port())) << at.to_string();
        expect_reachable(l, "localhost:" + std::to_string(at.port()));
        expect_reachable(l, at.is_v6() ? v6(at.port()) : v4(at.port()));
    });
}

TEST(DialListen, ThrowingFormsAndBusyPort) {
    weft::run([] {
        tcp_listener l = tcp_listener::bind("127.0.0.1:0", {.reuse_address = false});
        const std::string taken = v4(l.local_address().port());
        std::error_code ec;
        tcp_listener again = tcp_listener::bind(taken, ec, {.reuse_address = false});
        EXPECT_EQ(ec, std::errc::address_in_use) << ec.message();
        EXPECT_FALSE(again.is_open());
        EXPECT_EQ(thrown_code([&] { tcp_listener::bind(taken, {.reuse_address = false}); }),
                  std::errc::address_in_use);
        try {
            tcp_listener::bind(taken, {.reuse_address = false});
            ADD_FAILURE() << "bind should have thrown";
        } catch (const std::system_error& e) {
            EXPECT_NE(std::string(e.what()).find(taken), std::string::npos) << e.what();
        }
        // The address forms still work, next to the string ones.
        tcp_listener by_address = tcp_listener::bind(address::loopback_v4(0));
        EXPECT_TRUE(by_address.is_open());
        tcp_listener by_parsed = tcp_listener::bind(address::parse("127.0.0.1:0"), ec);
        EXPECT_FALSE(ec);
        EXPECT_TRUE(by_parsed.is_open());
    });
}

TEST(DialListen, UnknownHostIsAResolveError) {
    weft::run([] {
        std::error_code ec;
        tcp_listener l = tcp_listener::bind("no-such-host.invalid:0", ec);
        EXPECT_TRUE(ec);
        EXPECT_FALSE(l.is_open());
        tcp_stream::connect("no-such-host.invalid:80", ec, io_limit);
        EXPECT_TRUE(ec);
        EXPECT_NE(ec, std::errc::invalid_argument);
    });
}

// ---- accept with the peer's address ---------------------------------------------------

TEST(DialAccept, ReportsThePeerOverIPv4AndIPv6) {
    const bool v6_ok = have_ipv6_loopback();
    weft::run([&] {
        tcp_listener l4 = tcp_listener::bind("127.0.0.1:0");
        expect_reachable(l4, v4(l4.local_address().port()));
        if (v6_ok) {
            tcp_listener l6 = tcp_listener::bind("[::1]:0");
            expect_reachable(l6, v6(l6.local_address().port()));
        }
        // The throwing form; an IPv4 client of a dual-stack listener shows as IPv4.
        tcp_listener any = tcp_listener::bind(":0");
        address peer;
        tcp_stream server;
        auto acceptor = weft::spawn([&] { server = any.accept(peer, io_limit); });
        tcp_stream client = tcp_stream::connect(address::loopback_v4(any.local_address().port()), io_limit);
        acceptor.join();
        EXPECT_FALSE(peer.is_v6()) << peer.to_string();
        EXPECT_EQ(peer, client.local_address());
        EXPECT_EQ(server.local_address(), address::loopback_v4(any.local_address().port()));
    });
}

TEST(DialAccept, FailureLeavesPeerAlone) {
    weft::run([] {
        tcp_listener l = tcp_listener::bind("127.0.0.1:0");
        address peer = address::loopback_v4(9);
        std::error_code ec;
        tcp_stream s = l.accept(peer, ec, steady::now() - 1ms);
        EXPECT_EQ(ec, std::errc::timed_out);
        EXPECT_FALSE(s.is_open());
        EXPECT_EQ(peer, address::loopback_v4(9));
        tcp_listener closed;
        closed.accept(peer, ec, io_limit);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        EXPECT_EQ(thrown_code([&] { closed.accept(peer, io_limit); }), std::errc::bad_file_descriptor);
        EXPECT_EQ(peer, address::loopback_v4(9));
    });
}

// ---- connecting by string ---------------------------------------------------------------

TEST(DialConnect, ClosedPortIsRefused) {
    const std::uint16_t port = closed_port();
    weft::run([&] {
        for (const std::string& to : {v4(port), "localhost:" + std::to_string(port)}) {
            SCOPED_TRACE(to);
            std::error_code ec;
            tcp_stream s = tcp_stream::connect(to, ec, io_limit);
            EXPECT_EQ(ec, std::errc::connection_refused) << ec.message();
            EXPECT_FALSE(s.is_open());
            EXPECT_EQ(thrown_code([&] { tcp_stream::connect(to, io_limit); }), std::errc::connection_refused);
        }
    });
}

TEST(DialConnect, LocalhostReachesAnIPv4OnlyListener) {
    // localhost may resolve to ::1 first: that one is refused, 127.0.0.1 is tried next.
    weft::run([] {
        tcp_listener l = tcp_listener::bind("127.0.0.1:0");
        expect_reachable(l, "localhost:" + std::to_string(l.local_address().port()));
    });
}

// A name's lookup always waits (on the offload pool), so a passed deadline
// fails it before it starts. An address literal goes to the connect, which
// like every socket call is tried first: a loopback handshake the kernel has
// finished by the time connect() returns succeeds, one still in progress
// times out without waiting.
TEST(DialConnect, DeadlineAlreadyPassed) {
    weft::run([] {
        tcp_listener l = tcp_listener::bind("127.0.0.1:0");
        const std::uint16_t port = l.local_address().port();
        const std::string name = "localhost:" + std::to_string(port);
        std::error_code ec;
        tcp_stream s = tcp_stream::connect(name, ec, steady::now() - 1ms);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_FALSE(s.is_open());
        EXPECT_EQ(thrown_code([&] { tcp_stream::connect(name, steady::now() - 1ms); }), std::errc::timed_out);
        {
            weft::deadline_scope past{steady::now() - 1ms};
            tcp_stream::connect(name, ec);
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        }
        s = tcp_stream::connect(v4(port), ec, steady::now() - 1ms);
        EXPECT_TRUE(!ec || ec == std::errc::timed_out) << ec.message();
        EXPECT_EQ(s.is_open(), !ec);
        weft::net::resolve("localhost", "80", ec, steady::now() - 1ms);
        EXPECT_EQ(ec, std::errc::timed_out);
    });
}

TEST(DialConnect, CanceledBeforeItStarts) {
    weft::run([] {
        tcp_listener l = tcp_listener::bind("127.0.0.1:0");
        const std::uint16_t port = l.local_address().port();
        std::error_code by_name, by_address;
        bool open = false;
        auto h = weft::spawn([&] {
            tcp_stream::connect("localhost:" + std::to_string(port), by_name, io_limit);  // the lookup waits
            open = tcp_stream::connect(v4(port), by_address, io_limit).is_open();
        });
        h.cancel();  // before it runs: the cancel is pending when connect starts
        h.join();
        EXPECT_EQ(by_name, std::errc::operation_canceled) << by_name.message();
        // As for a passed deadline: canceled only if the handshake was not done at once.
        EXPECT_TRUE(!by_address || by_address == std::errc::operation_canceled) << by_address.message();
        EXPECT_EQ(open, !by_address);
    });
}

TEST(DialResolve, CanceledWhileResolving) {
    weft::run([] {
        pool_blocker pool;  // the lookup cannot finish until the test ends
        std::error_code ec;
        tcp_stream s;
        {
            blocked_call call([&] { s = tcp_stream::connect("localhost:80", ec); });
            call.cancel_and_join();
        }
        EXPECT_EQ(ec, std::errc::operation_canceled) << ec.message();
        EXPECT_FALSE(s.is_open());
        {
            std::vector<address> found;
            blocked_call call([&] { found = weft::net::resolve("localhost", "80", ec); });
            call.cancel_and_join();
            EXPECT_TRUE(found.empty());
        }
        EXPECT_EQ(ec, std::errc::operation_canceled) << ec.message();
        {
            udp_socket u;
            blocked_call call([&] { u.connect("localhost:53", ec); });
            call.cancel_and_join();
            EXPECT_FALSE(u.is_open());
        }
        EXPECT_EQ(ec, std::errc::operation_canceled) << ec.message();
        pool.release();
    });
}

TEST(DialResolve, DeadlineWhileResolving) {
    weft::run([] {
        pool_blocker pool;
        std::error_code ec;
        tcp_stream s = tcp_stream::connect("localhost:80", ec, 30ms);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_FALSE(s.is_open());
        EXPECT_EQ(thrown_code([] { tcp_stream::connect("localhost:80", 10ms); }), std::errc::timed_out);
        weft::net::resolve("localhost", "80", ec, 10ms);
        EXPECT_EQ(ec, std::errc::timed_out);
        {
            weft::deadline_scope limit{20ms};
            weft::net::resolve("localhost", "80", ec);
            EXPECT_EQ(ec, std::errc::timed_out);
            tcp_listener l = tcp_listener::bind("localhost:0", ec);
            EXPECT_EQ(ec, std::errc::timed_out);
            EXPECT_FALSE(l.is_open());
        }
        pool.release();
        // Once the pool is free again, lookups complete as usual.
        s = tcp_stream::connect("localhost:" + std::to_string(closed_port()), ec, io_limit);
        EXPECT_EQ(ec, std::errc::connection_refused) << ec.message();
    });
}

// A listener whose accept queue is full: connects to it hang (the kernel drops
// their SYNs) until the deadline. Returns false if this kernel never let one hang.
bool fill_backlog(tcp_listener& l, std::vector<tcp_stream>& pending) {
    std::error_code ec;
    for (int i = 0; i < 64; ++i) {
        tcp_stream s = tcp_stream::connect(l.local_address(), ec, 100ms);
        if (ec == std::errc::timed_out) return true;
        if (ec) return false;
        pending.push_back(std::move(s));
    }
    return false;
}

TEST(DialConnect, CanceledWhileConnecting) {
    weft::run([] {
        tcp_listener l = tcp_listener::bind("127.0.0.1:0", {.backlog = 0});
        std::vector<tcp_stream> pending;
        if (!fill_backlog(l, pending)) GTEST_SKIP() << "connects to a full backlog do not wait here";
        const std::string to = v4(l.local_address().port());
        std::error_code ec;
        {
            blocked_call call([&] { tcp_stream::connect(to, ec); });
            call.cancel_and_join();
        }
        EXPECT_EQ(ec, std::errc::operation_canceled) << ec.message();
        // The deadline ends it the same way, also after localhost's other
        // addresses were refused.
        for (const std::string& t : {to, "localhost:" + std::to_string(l.local_address().port())}) {
            SCOPED_TRACE(t);
            tcp_stream s = tcp_stream::connect(t, ec, 50ms);
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
            EXPECT_FALSE(s.is_open());
        }
    });
}

// ---- UDP by string --------------------------------------------------------------------------

TEST(DialUdp, BindAndConnectByString) {
    const bool v6_ok = have_ipv6_loopback();
    weft::run([&] {
        std::vector<std::string> wheres = {"127.0.0.1:0", ":0", "*:0", "localhost:0"};
        if (v6_ok) {
            wheres.push_back("[::1]:0");
            wheres.push_back("[::]:0");
        }
        for (const std::string& where : wheres) {
            SCOPED_TRACE(where);
            udp_socket rx = udp_socket::bind(where);
            const address at = rx.local_address();
            ASSERT_NE(at.port(), 0);
            std::vector<std::string> targets;
            const bool any = at == address::any_v6(at.port()) || at == address::any_v4(at.port());
            if (!at.is_v6() || any) targets.push_back(v4(at.port()));
            if (v6_ok && at.is_v6()) targets.push_back(v6(at.port()));
            for (const std::string& to : targets) {
                SCOPED_TRACE(to);
                udp_socket tx;
                tx.connect(to);
                const char msg[] = "hello";
                tx.send(msg, sizeof msg, io_limit);
                char buf[16] = {};
                address from;
                const std::size_t n = rx.receive_from(buf, sizeof buf, from, io_limit);
                EXPECT_EQ(n, sizeof msg);
                EXPECT_STREQ(buf, msg);
                // A reply to `from` (v4-mapped on a dual-stack socket) reaches the sender.
                rx.send_to("ok", 2, from, io_limit);
                EXPECT_EQ(tx.receive(buf, sizeof buf, io_limit), 2u);
            }
        }
        // connect by host name, to a dual-stack receiver.
        udp_socket rx = udp_socket::bind(":0");
        udp_socket tx;
        tx.connect("localhost:" + std::to_string(rx.local_address().port()), io_limit);
        EXPECT_TRUE(tx.is_open());
        tx.send("x", 1, io_limit);
        char b = 0;
        EXPECT_EQ(rx.receive(&b, 1, io_limit), 1u);
        EXPECT_EQ(b, 'x');
    });
}

}  // namespace
