// weft::channel, one operation at a time: buffering, close rules, values,
// deadlines and cancellation. Timing checks are lower bounds only.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sync_test_support.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;
constexpr int kScale = weft_test::sanitizer_scale;

// ---- basics -----------------------------------------------------------------

TEST(Channel, BufferedIsFifo) {
    weft::channel<int> ch(8);
    EXPECT_EQ(ch.capacity(), 8u);
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(ch.try_send(i));
    EXPECT_FALSE(ch.try_send(99));  // full
    EXPECT_EQ(ch.size(), 8u);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(ch.try_recv(), i);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    std::error_code ec;
    EXPECT_EQ(ch.try_recv(ec), std::nullopt);
    EXPECT_EQ(ec, std::errc::operation_would_block);
}

TEST(Channel, BufferWrapsAndGrowsInOrder) {
    weft::channel<int> ch(100);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 37 && ch.try_send(next_in); ++i) ++next_in;
        for (int i = 0; i < 23; ++i) {
            auto v = ch.try_recv();
            if (!v) break;
            EXPECT_EQ(*v, next_out++);
        }
    }
    while (auto v = ch.try_recv()) EXPECT_EQ(*v, next_out++);
    EXPECT_EQ(next_in, next_out);
}

TEST(Channel, RendezvousSendWaitsForAReceiver) {
    weft::channel<int> ch;  // capacity 0
    EXPECT_FALSE(ch.try_send(1));  // nobody receives
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    weft::run([&] {
        bool sent = false;
        auto s = weft::spawn([&] {
            ch.send(7);
            sent = true;
        });
        for (int i = 0; i < 5; ++i) weft::this_fiber::yield();
        EXPECT_FALSE(sent);  // parked until someone takes it
        EXPECT_EQ(ch.size(), 0u);
        EXPECT_EQ(ch.recv(), 7);
        s.join();
        EXPECT_TRUE(sent);

        // The other way round: a parked receiver takes a try_send.
        std::optional<int> got;
        auto r = weft::spawn([&] { got = ch.recv(); });
        weft::this_fiber::yield();
        EXPECT_TRUE(ch.try_send(8));
        r.join();
        EXPECT_EQ(got, 8);
    });
}

TEST(Channel, SenderParksWhileFull) {
    weft::channel<int> ch(2);
    weft::run([&] {
        int sent = 0;
        auto s = weft::spawn([&] {
            for (int i = 0; i < 5; ++i) {
                ch.send(i);
                ++sent;
            }
        });
        for (int i = 0; i < 5; ++i) weft::this_fiber::yield();
        EXPECT_EQ(sent, 2);
        for (int i = 0; i < 5; ++i) EXPECT_EQ(ch.recv(), i);
        s.join();
        EXPECT_EQ(sent, 5);
    });
}

TEST(Channel, Unbounded) {
    auto ch = weft::channel<std::string>::unbounded();
    EXPECT_EQ(ch.capacity(), SIZE_MAX);
    const int n = 100000 / kScale;
    for (int i = 0; i < n; ++i) ch.send(std::to_string(i));  // never parks, even with no fiber around
    EXPECT_EQ(ch.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_EQ(ch.recv(), std::to_string(i));
    weft::channel<int> tagged(weft::unbounded);
    EXPECT_TRUE(tagged.try_send(1));
}

// ---- close ------------------------------------------------------------------

TEST(Channel, CloseRules) {
    weft::channel<int> ch(4);
    ch.send(1);
    ch.send(2);
    EXPECT_TRUE(ch.close());
    EXPECT_FALSE(ch.close());  // idempotent
    EXPECT_TRUE(ch.closed());
    try {
        ch.send(3);
        ADD_FAILURE() << "send on a closed channel must throw";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::broken_pipe);
    }
    std::error_code ec;
    EXPECT_FALSE(ch.send(3, ec));
    EXPECT_EQ(ec, std::errc::broken_pipe);
    EXPECT_FALSE(ch.try_send(3));
    EXPECT_FALSE(ch.try_send(3, ec));
    EXPECT_EQ(ec, std::errc::broken_pipe);
    // Values sent before close still arrive, then nullopt for ever.
    EXPECT_EQ(ch.recv(), 1);
    EXPECT_EQ(ch.recv(ec), 2);
    EXPECT_FALSE(ec);
    EXPECT_EQ(ch.recv(), std::nullopt);
    EXPECT_EQ(ch.recv(ec), std::nullopt);
    EXPECT_FALSE(ec);  // closed is not an error
    EXPECT_EQ(ch.try_recv(ec), std::nullopt);
    EXPECT_FALSE(ec);
    EXPECT_EQ(ch.recv_for(1s), std::nullopt);
}

TEST(Channel, FailedSendKeepsTheValue) {
    weft::channel<std::unique_ptr<int>> ch(1);
    auto a = std::make_unique<int>(1);
    EXPECT_TRUE(ch.try_send(std::move(a)));
    EXPECT_EQ(a, nullptr);  // handed over
    auto b = std::make_unique<int>(2);
    EXPECT_FALSE(ch.try_send(std::move(b)));  // full
    ASSERT_NE(b, nullptr);
    std::error_code ec;
    EXPECT_FALSE(ch.send_for(std::move(b), 1ms, ec));
    EXPECT_EQ(ec, std::errc::timed_out);
    ASSERT_NE(b, nullptr);
    ch.close();
    EXPECT_THROW(ch.send(std::move(b)), std::system_error);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(*b, 2);
}

TEST(Channel, CloseWakesParkedSendersAndReceivers) {
    weft::channel<int> full(1), empty(1);
    full.send(0);
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        int receivers_done = 0, senders_done = 0;
        for (int i = 0; i < 5; ++i) {
            hs.push_back(weft::spawn([&] {
                EXPECT_EQ(empty.recv(), std::nullopt);
                ++receivers_done;
            }));
            hs.push_back(weft::spawn([&, i] {
                std::error_code ec;
                int v = 100 + i;
                EXPECT_FALSE(full.send(std::move(v), ec));
                EXPECT_EQ(ec, std::errc::broken_pipe);
                EXPECT_EQ(v, 100 + i);
                ++senders_done;
            }));
        }
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
        EXPECT_EQ(receivers_done + senders_done, 0);
        empty.close();
        full.close();
        for (auto& h : hs) h.join();
        EXPECT_EQ(receivers_done, 5);
        EXPECT_EQ(senders_done, 5);
        EXPECT_EQ(full.recv(), 0);  // buffered before close
        EXPECT_EQ(full.recv(), std::nullopt);
    });
}

TEST(Channel, CloseWakesAPlainThread) {
    weft::channel<int> ch;
    std::thread t([&] { EXPECT_EQ(ch.recv(), std::nullopt); });
    std::this_thread::sleep_for(10ms);
    ch.close();
    t.join();
}

TEST(Channel, RangeFor) {
    weft::channel<int> ch(4);
    std::vector<int> got;
    weft::run([&] {
        auto p = weft::spawn([&] {
            for (int i = 0; i < 100; ++i) ch.send(i);
            ch.close();
        });
        for (auto v : ch) got.push_back(v);
        p.join();
    });
    std::vector<int> want(100);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(got, want);
}

// ---- move-only --------------------------------------------------------------

TEST(Channel, MoveOnlyValues) {
    weft::channel<std::unique_ptr<int>> ch;
    int sum = 0;
    weft::run([&] {
        auto p = weft::spawn([&] {
            for (int i = 1; i <= 50; ++i) ch.send(std::make_unique<int>(i));
            ch.close();
        });
        for (auto& v : ch) {
            std::unique_ptr<int> mine = std::move(v);
            sum += *mine;
        }
        p.join();
    });
    EXPECT_EQ(sum, 50 * 51 / 2);
    // Buffered move-only values left in a channel are destroyed with it.
    auto q = weft::channel<std::unique_ptr<int>>::unbounded();
    for (int i = 0; i < 40; ++i) q.send(std::make_unique<int>(i));
}

// ---- timeouts, deadlines, cancellation -------------------------------------

TEST(Channel, RecvAndSendTimeOut) {
    weft::channel<int> ch(1);
    weft::run([&] {
        auto t0 = clk::now();
        std::error_code ec;
        EXPECT_EQ(ch.recv_for(30ms, ec), std::nullopt);
        EXPECT_EQ(ec, std::errc::timed_out);
        EXPECT_GE(clk::now() - t0, 30ms);

        ch.send(1);
        t0 = clk::now();
        EXPECT_FALSE(ch.send_for(2, 20ms, ec));
        EXPECT_EQ(ec, std::errc::timed_out);
        EXPECT_GE(clk::now() - t0, 20ms);

        t0 = clk::now();
        try {
            ch.send_until(2, clk::now() + 20ms);
            ADD_FAILURE() << "expected timed_out";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::timed_out);
        }
        EXPECT_GE(clk::now() - t0, 20ms);
        EXPECT_EQ(ch.recv(), 1);
        EXPECT_THROW(ch.recv_for(5ms), std::system_error);
    });
}

TEST(Channel, TimeoutsOnAPlainThread) {
    weft::channel<int> ch;
    const auto t0 = clk::now();
    std::error_code ec;
    EXPECT_EQ(ch.recv_for(20ms, ec), std::nullopt);
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_GE(clk::now() - t0, 20ms);
}

TEST(Channel, DeadlineAlreadyPassed) {
    weft::channel<int> ch(1);
    const auto past = clk::now() - 1s;
    std::error_code ec;
    EXPECT_EQ(ch.recv_until(past, ec), std::nullopt);
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_TRUE(ch.send_until(5, past, ec));  // room: completes despite the deadline
    EXPECT_FALSE(ec);
    EXPECT_FALSE(ch.send_until(6, past, ec));
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_EQ(ch.recv_until(past, ec), 5);  // ready: completes despite the deadline
    EXPECT_FALSE(ec);
    weft::run([&] {
        EXPECT_EQ(ch.recv_until(past, ec), std::nullopt);
        EXPECT_EQ(ec, std::errc::timed_out);
    });
}

TEST(Channel, DeadlineScopeEndsAWait) {
    weft::channel<int> ch;
    weft::run([&] {
        auto t0 = clk::now();
        {
            weft::deadline_scope scope{20ms};
            try {
                (void)ch.recv();
                ADD_FAILURE() << "expected timed_out";
            } catch (const std::system_error& e) {
                EXPECT_EQ(e.code(), std::errc::timed_out);
            }
            std::error_code ec;
            EXPECT_FALSE(ch.send_for(1, 10s, ec));  // the scope is earlier, and already passed
            EXPECT_EQ(ec, std::errc::timed_out);
        }
        EXPECT_GE(clk::now() - t0, 20ms);
    });
}

TEST(Channel, CancelWhileBlockedInRecvAndSend) {
    weft::channel<int> ch;
    weft::run([&] {
        std::error_code rec, sec;
        auto r = weft::spawn([&] { EXPECT_EQ(ch.recv(rec), std::nullopt); });
        weft::this_fiber::yield();
        r.cancel();
        r.join();
        EXPECT_EQ(rec, std::errc::operation_canceled);

        int v = 5;
        auto s = weft::spawn([&] { EXPECT_FALSE(ch.send(std::move(v), sec)); });
        weft::this_fiber::yield();
        s.cancel();
        s.join();
        EXPECT_EQ(sec, std::errc::operation_canceled);
        EXPECT_EQ(v, 5);

        auto t = weft::spawn([&] { EXPECT_THROW(ch.recv_for(10s), std::system_error); });
        weft::this_fiber::yield();
        t.cancel();
        t.join();
        // Nothing is left parked: a later exchange works normally.
        auto p = weft::spawn([&] { ch.send(9); });
        EXPECT_EQ(ch.recv(), 9);
        p.join();
    });
}

TEST(Channel, CanceledFiberStillTakesAReadyValue) {
    weft::channel<int> ch(1);
    ch.send(3);
    weft::run([&] {
        auto f = weft::spawn([&] {
            weft::this_fiber::yield();
            EXPECT_EQ(ch.recv(), 3);  // ready: no need to block
            std::error_code ec;
            EXPECT_EQ(ch.recv(ec), std::nullopt);
            EXPECT_EQ(ec, std::errc::operation_canceled);
        });
        f.cancel();
        f.join();
    });
}

}  // namespace
