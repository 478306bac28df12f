// Socket calls do the I/O first and check the deadline (and cancel) only
// when they would have to wait: tcp and unix streams (net_io_first.hpp),
// accept with a connection queued, a Unix connect the kernel completes at
// once and a TCP connect that must wait, UDP send and receive, and
// zero-size reads that are not EOF.
#include <gtest/gtest.h>
#include <poll.h>

#include "net_io_first.hpp"
#include "net_test_support.hpp"

namespace {
using namespace weft_net_test;
using namespace std::chrono_literals;
using weft::net::udp_socket;
using weft::net::unix_listener;
using weft::net::unix_stream;
using io_first::past;
using io_first::soon;

// Blocks the thread (not only the fiber) until fd is readable, at most 10 s:
// proof, without a wait in weft, that a call on fd need not wait.
bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 10000) == 1 && (p.revents & POLLIN);
}

std::string abstract_name(const char* what) {
    return std::string(1, '\0') + "weft-io-first-" + what + "-" + std::to_string(::getpid());
}

TEST(NetIoFirst, TcpStream) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        io_first::check_all(p.server, p.client);
        io_first::check_all(p.client, p.server);
    });
}

TEST(NetIoFirst, UnixStream) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        unix_listener l = unix_listener::bind(abstract_name("stream"));
        unix_stream server;
        scoped_fiber acceptor([&] { server = l.accept(10s); });
        unix_stream client = unix_stream::connect(abstract_name("stream"), 10s);
        acceptor.join();
        ASSERT_TRUE(server.is_open());
        io_first::check_all(server, client);
        io_first::check_all(client, server);
    });
}

TEST(NetIoFirst, TcpVectoredCalls) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        const weft::net::const_buffer out[2] = {{"ab", 2}, {"cd", 2}};
        EXPECT_EQ(p.client.writev(out, ec, past()), 4u);  // room to write
        EXPECT_FALSE(ec) << ec.message();
        ASSERT_TRUE(readable(p.server.native_handle()));
        char x[2], y[2];
        const weft::net::mutable_buffer in[2] = {{x, 2}, {y, 2}};
        EXPECT_EQ(p.server.readv(in, ec, past()), 4u);  // data pending
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(std::string(x, 2) + std::string(y, 2), "abcd");
        p.server.readv(in, ec, past());  // nothing pending: would wait
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_EQ(p.client.writev_all(out, ec, past()), 4u);
        EXPECT_FALSE(ec) << ec.message();
        const weft::net::mutable_buffer none[1] = {{x, 0}};
        EXPECT_EQ(p.server.readv(none, ec, soon()), 0u);  // zero size: at once, not EOF
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(p.server.readv(in, ec, soon()), 4u) << ec.message();
    });
}

TEST(NetIoFirst, AcceptWithAConnectionQueued) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        std::error_code ec;
        (void)l.accept(ec, past());  // nobody connecting: would wait
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        tcp_stream c = tcp_stream::connect(l.local_address(), 10s);
        ASSERT_TRUE(readable(l.native_handle()));
        tcp_stream s = l.accept(ec, past());
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_TRUE(s.is_open());

        unix_listener ul = unix_listener::bind(abstract_name("accept"));
        // A Unix connect with room in the backlog completes in the kernel at
        // once: no wait, so a passed deadline does not fail it.
        unix_stream uc = unix_stream::connect(abstract_name("accept"), ec, past());
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_TRUE(uc.is_open());
        weft::deadline_scope expired{past()};
        unix_stream us = ul.accept(ec);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_TRUE(us.is_open());
        (void)ul.accept(ec);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
    });
}

// A listener whose accept queue is full drops new SYNs: a connect to it
// must wait, so a passed deadline fails it at once.
TEST(NetIoFirst, ConnectThatMustWaitTimesOutAtOnce) {
    weft::run([] {
        tcp_listener l = tcp_listener::bind(address::loopback_v4(0), {.backlog = 0});
        std::vector<tcp_stream> queued;
        std::error_code ec;
        for (int i = 0; i < 64; ++i) {  // fill the queue: bounded
            tcp_stream s = tcp_stream::connect(l.local_address(), ec, 200ms);
            if (ec) break;
            queued.push_back(std::move(s));
        }
        ASSERT_EQ(ec, std::errc::timed_out) << ec.message();
        tcp_stream s = tcp_stream::connect(l.local_address(), ec, steady::now() - 1ms);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_FALSE(s.is_open());
    });
}

TEST(NetIoFirst, Udp) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        udp_socket server = udp_socket::bind(address::loopback_v4(0));
        udp_socket client = udp_socket::bind(address::loopback_v4(0));
        std::error_code ec;
        EXPECT_EQ(client.send_to("x", 1, server.local_address(), ec, past()), 1u);  // room to send
        EXPECT_FALSE(ec) << ec.message();
        ASSERT_TRUE(readable(server.native_handle()));
        char buf[4];
        address from;
        EXPECT_EQ(server.receive_from(buf, sizeof buf, from, ec, past()), 1u);  // a datagram waiting
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(buf[0], 'x');
        EXPECT_EQ(from, client.local_address());
        server.receive_from(buf, sizeof buf, from, ec, past());  // none waiting
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();

        client.connect(server.local_address());
        {
            weft::deadline_scope expired{past()};
            EXPECT_EQ(client.send("y", 1, ec), 1u);
            EXPECT_FALSE(ec) << ec.message();
            ASSERT_TRUE(readable(server.native_handle()));
            EXPECT_EQ(server.receive(buf, sizeof buf, ec), 1u);
            EXPECT_FALSE(ec) << ec.message();
            EXPECT_EQ(buf[0], 'y');
            server.receive(buf, sizeof buf, ec);
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        }
    });
}

// Before: read(buf, 0) on a connection with nothing pending parked until
// its deadline, and read(buf, 0) after the peer closed returned 0 just as
// it did with data pending: 0 is EOF only for a read of at least one byte.
TEST(NetIoFirst, ZeroSizeReadIsNotEof) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        char b = 0;
        std::error_code ec;
        EXPECT_EQ(p.server.read(&b, 0, ec, soon()), 0u);
        EXPECT_FALSE(ec) << ec.message();
        p.client.write_all("z", 1);
        p.client.shutdown_write();
        EXPECT_EQ(p.server.read(&b, 0, ec, soon()), 0u);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(p.server.read(&b, 1, ec, soon()), 1u) << ec.message();
        EXPECT_EQ(p.server.read(&b, 1, ec, soon()), 0u);  // EOF
        EXPECT_FALSE(ec) << ec.message();
        p.server.close();
        p.server.read(&b, 0, ec);  // a closed stream is still an error
        EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
    });
}

}  // namespace
