// Stream reads and writes where they may be in flight in the kernel (an
// io_uring worker's ring carries them: the `uring` preset runs these with
// WEFT_REACTOR=io_uring; on epoll they pass the same way): a cancel or close
// while a read is out never loses bytes, several fibers share one socket's
// bytes, and a write that fills the socket waits for room. Accepts (one
// IORING_OP_ACCEPT per parked acceptor on io_uring): many acceptors share a
// listener, a deadline or cancel never loses a connection, a close ends
// every accept.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "net_test_support.hpp"

namespace {

using namespace weft_net_test;
using namespace std::chrono_literals;
using weft::net::tcp_listener;
using weft::net::tcp_stream;

// The data and the cancel race: whichever wins, every byte arrives once,
// in the canceled read or in the next one.
TEST(StreamInFlight, CancelWithDataArrivingLosesNoBytes) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        for (int round = 0; round < 200; ++round) {
            std::string got;
            std::error_code first;
            auto h = weft::spawn([&] {
                char b[4];
                const std::size_t n = p.server.read(b, sizeof b, first);
                got.append(b, n);
            });
            weft::this_fiber::yield();  // the read is out (parked, or in the ring)
            p.client.write_all("abcd", 4);
            if (round % 2) weft::this_fiber::yield();  // sometimes the data is in first
            h.cancel();
            h.join();
            ASSERT_TRUE(!first || first == std::errc::operation_canceled) << first.message();
            std::error_code ec;
            while (got.size() < 4) {
                char b[4];
                const std::size_t n = p.server.read(b, 4 - got.size(), ec, 10s);
                ASSERT_FALSE(ec) << ec.message();
                ASSERT_GT(n, 0u);
                got.append(b, n);
            }
            ASSERT_EQ(got, "abcd") << "round " << round;
        }
    });
}

TEST(StreamInFlight, DeadlineWhileAReadIsOutThenTheStreamGoesOn) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        char b[8];
        std::error_code ec;
        EXPECT_EQ(p.server.read(b, sizeof b, ec, 20ms), 0u);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        p.client.write_all("xyz", 3);
        EXPECT_EQ(p.server.read_exact(b, 3, ec, 10s), 3u);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(std::string(b, 3), "xyz");
    });
}

// close() from a plain thread, while a fiber's read is out: the fiber gets
// bad_file_descriptor and the peer sees the connection end.
TEST(StreamInFlight, CloseFromAPlainThreadEndsARead) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        std::atomic<bool> reading{false};
        scoped_fiber reader([&] {
            char b;
            reading = true;
            p.server.read(&b, 1, ec);
        });
        for (int i = 0; i < 100 && !reading; ++i) weft::this_fiber::yield();
        weft::this_fiber::sleep_for(5ms);  // parked (or in the ring) by now, most likely; either way it must end
        std::thread closer([&] { p.server.close(); });
        closer.join();
        reader.join();
        EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
        char b;
        std::error_code peer;
        EXPECT_EQ(p.client.read(&b, 1, peer, 10s), 0u);  // EOF: the file is really closed
        EXPECT_FALSE(peer) << peer.message();
    });
}

TEST(StreamInFlight, SeveralReadersShareOneSocketsBytes) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        constexpr int readers = 8;
        std::string got;
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < readers; ++i)
            hs.push_back(weft::spawn([&] {
                char b;
                std::error_code ec;
                if (p.server.read_exact(&b, 1, ec, 10s) == 1) got.push_back(b);
                EXPECT_FALSE(ec) << ec.message();
            }));
        weft::this_fiber::yield();
        p.client.write_all("01234567", readers);
        for (auto& h : hs) h.join();
        std::sort(got.begin(), got.end());
        EXPECT_EQ(got, "01234567");
    });
}

// A write larger than the socket buffers waits for room (in the ring on an
// io_uring worker) while the peer reads slowly; every byte arrives in order.
TEST(StreamInFlight, BigWriteWaitsForRoom) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        // Small buffers (not tiny: a window of a few segments waits for
        // delayed ACKs), so the write fills them many times over.
        p.client.set_send_buffer_size(16384);
        p.server.set_receive_buffer_size(16384);
        p.client.set_nodelay(true);
        constexpr std::size_t total = 2u << 20;
        std::vector<unsigned char> data(total);
        for (std::size_t i = 0; i < total; ++i) data[i] = static_cast<unsigned char>(i * 31 + (i >> 9));
        std::error_code wec;
        std::size_t wrote = 0;
        scoped_fiber writer([&] { wrote = p.client.write_all(data.data(), total, wec, 20s); });
        std::vector<unsigned char> got;
        std::vector<unsigned char> buf(1500);
        for (int i = 0; i < 1'000'000 && got.size() < total; ++i) {
            std::error_code ec;
            const std::size_t n = p.server.read(buf.data(), buf.size(), ec, 10s);
            ASSERT_FALSE(ec) << ec.message();
            ASSERT_GT(n, 0u);
            got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
            if (i % 64 == 0) weft::this_fiber::yield();
        }
        writer.join();
        EXPECT_FALSE(wec) << wec.message();
        EXPECT_EQ(wrote, total);
        EXPECT_TRUE(got == data);
    });
}

// ---- accepts ------------------------------------------------------------------

// Eight acceptors on one listener (with the peer's address), 200 clients:
// every connection is accepted once, by some acceptor, with the right peer.
// The listener's close then ends the accepts still parked.
TEST(AcceptInFlight, ManyAcceptorsTakeEveryConnectionOnce) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        constexpr int clients = 200, acceptors = 8;
        std::vector<int> seen(clients, 0);
        std::vector<std::string> peer_ok;
        int accepted = 0, bad_peer = 0, ended_badf = 0;
        std::vector<weft::fiber_handle> hs;
        for (int a = 0; a < acceptors; ++a)
            hs.push_back(weft::spawn([&] {
                for (int i = 0; i < clients + 1; ++i) {
                    address from;
                    std::error_code ec;
                    tcp_stream c = l.accept(from, ec, 10s);
                    if (ec) {
                        if (ec == std::errc::bad_file_descriptor) ++ended_badf;
                        else ADD_FAILURE() << ec.message();
                        return;
                    }
                    if (from != c.peer_address()) ++bad_peer;
                    std::uint32_t idx = 0;
                    ASSERT_EQ(c.read_exact(&idx, sizeof idx, ec, 10s), sizeof idx) << ec.message();
                    ASSERT_LT(idx, static_cast<std::uint32_t>(clients));
                    ++seen[idx];
                    ++accepted;
                    c.write_all("k", 1, ec);
                }
            }));
        for (std::uint32_t i = 0; i < clients; ++i) {
            tcp_stream c = tcp_stream::connect(l.local_address(), 10s);
            c.write_all(&i, sizeof i);
            char k = 0;
            ASSERT_EQ(c.read_exact(&k, 1, 10s), 1u);  // served: the next client
        }
        EXPECT_EQ(accepted, clients);
        l.close();  // the acceptors still parked end with EBADF
        for (auto& h : hs) h.join();
        EXPECT_EQ(ended_badf, acceptors);
        EXPECT_EQ(bad_peer, 0);
        EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), clients);
    });
}

// A connection and the acceptor's cancel race: whichever wins, the
// connection is accepted exactly once, by the canceled accept or the next.
TEST(AcceptInFlight, CancelWithAConnectionArrivingLosesNone) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        for (int round = 0; round < 100; ++round) {
            tcp_stream got;
            std::error_code first;
            auto h = weft::spawn([&] { got = l.accept(first); });
            weft::this_fiber::yield();  // the accept is out (parked, or in the ring)
            tcp_stream c = tcp_stream::connect(l.local_address(), 10s);
            if (round % 2) weft::this_fiber::yield();  // sometimes the connection is in first
            h.cancel();
            h.join();
            ASSERT_TRUE(!first || first == std::errc::operation_canceled) << first.message();
            std::error_code ec;
            if (!got.is_open()) got = l.accept(ec, 10s);
            ASSERT_FALSE(ec) << "round " << round << ": " << ec.message();
            ASSERT_EQ(got.peer_address(), c.local_address());
            // Nothing more is queued: the round's one connection was taken once.
            l.accept(ec, std::chrono::steady_clock::now() - 1ms);
            ASSERT_EQ(ec, std::errc::timed_out) << "round " << round;
        }
    });
}

// A passed deadline accepts what is queued, else fails at once; a deadline
// that ends a parked accept leaves the next connection to the next accept.
TEST(AcceptInFlight, DeadlinesPassedAndEndingWhileParked) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        std::error_code ec;
        l.accept(ec, std::chrono::steady_clock::now() - 1ms);
        EXPECT_EQ(ec, std::errc::timed_out);
        l.accept(ec, 20ms);
        EXPECT_EQ(ec, std::errc::timed_out);
        tcp_stream c = tcp_stream::connect(l.local_address(), 10s);
        tcp_stream s = l.accept(ec, std::chrono::steady_clock::now() - 1ms);  // queued: taken without a wait
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(s.peer_address(), c.local_address());
    });
}

// A plain thread closes the listener while four fibers are parked in
// accept: each ends with EBADF, and the listening socket is gone (a connect
// is refused) once they have returned.
TEST(AcceptInFlight, CloseFromAPlainThreadEndsEveryAccept) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        const address where = l.local_address();
        std::atomic<int> started{0};
        int badf = 0;
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 4; ++i)
            hs.push_back(weft::spawn([&] {
                ++started;
                std::error_code ec;
                l.accept(ec, 10s);
                if (ec == std::errc::bad_file_descriptor) ++badf;
                else ADD_FAILURE() << "accept ended with " << ec.message();
            }));
        for (int i = 0; i < 100 && started < 4; ++i) weft::this_fiber::yield();
        weft::this_fiber::sleep_for(5ms);  // parked (or in the ring) by now, most likely; either way they end
        std::thread closer([&] { l.close(); });
        closer.join();
        for (auto& h : hs) h.join();
        EXPECT_EQ(badf, 4);
        std::error_code ec;
        tcp_stream::connect(where, ec, 10s);
        EXPECT_EQ(ec, std::errc::connection_refused) << ec.message();
    });
}

}  // namespace
