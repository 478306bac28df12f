// Stream reads and writes where they may be in flight in the kernel (an
// io_uring worker's ring carries them: the `uring` preset runs these with
// WEFT_REACTOR=io_uring; on epoll they pass the same way): a cancel or close
// while a read is out never loses bytes, several fibers share one socket's
// bytes, and a write that fills the socket waits for room.
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

}  // namespace
