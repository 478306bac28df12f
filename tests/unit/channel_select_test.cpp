// weft::select: fairness, timeout and default cases, closed channels, and a
// parked select across fibers. Timing checks are lower bounds only.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <system_error>
#include <thread>

#include "sync_test_support.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;
constexpr int kScale = weft_test::sanitizer_scale;

// ---- select -----------------------------------------------------------------

TEST(Select, FairAmongReadyCases) {
    const int rounds = 10000 / kScale;
    auto a = weft::channel<int>::unbounded();
    auto b = weft::channel<int>::unbounded();
    weft::channel<int> c(1);  // a send case with room, refreshed every round
    for (int i = 0; i < rounds; ++i) {
        a.send(i);
        b.send(i);
    }
    int wins[3] = {0, 0, 0};
    int fired = 0;
    for (int i = 0; i < rounds; ++i) {
        while (c.try_recv()) {
        }
        const int w = weft::select(weft::recv_case(a, [&](std::optional<int> v) { EXPECT_TRUE(v); ++fired; }),
                                   weft::recv_case(b, [&](std::optional<int> v) { EXPECT_TRUE(v); ++fired; }),
                                   weft::send_case(c, i, [&] { ++fired; }));
        ASSERT_GE(w, 0);
        ASSERT_LT(w, 3);
        ++wins[w];
    }
    EXPECT_EQ(fired, rounds);  // exactly one callback per select
    for (int w : wins) EXPECT_GE(w, rounds / 5) << wins[0] << " " << wins[1] << " " << wins[2];
    // Only the winners moved values.
    EXPECT_EQ(a.size() + b.size(), static_cast<std::size_t>(2 * rounds - wins[0] - wins[1]));
}

TEST(Select, TimeoutCaseFires) {
    weft::channel<int> a, b;
    weft::run([&] {
        const auto t0 = clk::now();
        bool timed_out = false;
        const int w = weft::select(weft::recv_case(a, [](std::optional<int>) { ADD_FAILURE(); }),
                                   weft::send_case(b, 1, [] { ADD_FAILURE(); }),
                                   weft::timeout_case(30ms, [&] { timed_out = true; }));
        EXPECT_EQ(w, 2);
        EXPECT_TRUE(timed_out);
        EXPECT_GE(clk::now() - t0, 30ms);
        // Nothing stayed parked on a or b.
        EXPECT_FALSE(b.try_send(1));
        EXPECT_EQ(a.try_recv(), std::nullopt);
    });
    // On a plain thread too, with a deadline already passed.
    EXPECT_EQ(weft::select(weft::recv_case(a, [](std::optional<int>) {}), weft::timeout_case(clk::now() - 1s)), 1);
}

TEST(Select, DefaultCase) {
    weft::channel<int> a(1);
    EXPECT_EQ(weft::select(weft::recv_case(a, [](std::optional<int>) {}), weft::default_case()), 1);
    a.send(4);
    int got = 0;
    EXPECT_EQ(weft::select(weft::recv_case(a, [&](std::optional<int> v) { got = *v; }), weft::default_case()), 0);
    EXPECT_EQ(got, 4);
}

TEST(Select, OnAClosedChannel) {
    weft::channel<int> a, b;
    a.close();
    bool closed_seen = false;
    EXPECT_EQ(weft::select(weft::recv_case(b, [](std::optional<int>) { ADD_FAILURE(); }),
                           weft::recv_case(a, [&](std::optional<int> v) { closed_seen = !v; })),
              1);
    EXPECT_TRUE(closed_seen);
    // A send case on a closed channel: an error, or its fn(error_code) is told.
    try {
        weft::select(weft::send_case(a, 1, [] { ADD_FAILURE(); }));
        ADD_FAILURE() << "expected broken_pipe";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::broken_pipe);
    }
    std::error_code ec;
    EXPECT_EQ(weft::select(ec, weft::send_case(a, 1, [] {})), -1);
    EXPECT_EQ(ec, std::errc::broken_pipe);
    std::error_code told;
    EXPECT_EQ(weft::select(weft::send_case(a, 1, [&](std::error_code e) { told = e; })), 0);
    EXPECT_EQ(told, std::errc::broken_pipe);
    // Closing wakes a parked select.
    weft::run([&] {
        bool woke = false;
        auto f = weft::spawn([&] {
            weft::select(weft::recv_case(b, [&](std::optional<int> v) { woke = !v; }),
                         weft::timeout_case(10s, [] { ADD_FAILURE(); }));
        });
        weft::this_fiber::yield();
        b.close();
        f.join();
        EXPECT_TRUE(woke);
    });
}

TEST(Select, ParkedSelectFiresExactlyOnce) {
    // Many senders race for selects parked on two rendezvous channels: each
    // select takes exactly one value, and every value lands exactly once.
    const int n = 2000 / kScale;
    weft::channel<int> a, b;
    long received = 0, got_sum = 0;
    std::atomic<long> sent_sum{0};
    weft::run([&] {
        auto sel = weft::spawn([&] {
            for (int i = 0; i < 2 * n; ++i) {
                int fired = 0;
                weft::select(weft::recv_case(a, [&](std::optional<int> v) { ++fired; got_sum += *v; }),
                             weft::recv_case(b, [&](std::optional<int> v) { ++fired; got_sum += *v; }));
                EXPECT_EQ(fired, 1);
                ++received;
            }
        });
        auto sa = weft::spawn([&] {
            for (int i = 0; i < n; ++i) {
                a.send(i);
                sent_sum += i;
            }
        });
        std::thread sb([&] {  // another thread races on the other channel
            for (int i = 0; i < n; ++i) {
                b.send(1000000 + i);
                sent_sum += 1000000 + i;
            }
        });
        sa.join();
        sel.join();
        sb.join();
    });
    EXPECT_EQ(received, 2 * n);
    EXPECT_EQ(got_sum, sent_sum.load());
}

TEST(Select, SendAndRecvCasesAcrossFibers) {
    // Two fibers each select {send to the other, recv from the other}; the
    // pair of selects must pair up, never deadlock, never lose a value.
    const int rounds = 2000 / kScale;
    weft::channel<int> ab, ba;
    long total = 0;
    weft::run([&] {
        auto side = [&](weft::channel<int>& out, weft::channel<int>& in, int tag) {
            for (int i = 0; i < rounds; ++i)
                weft::select(weft::send_case(out, tag, [] {}),
                             weft::recv_case(in, [&](std::optional<int> v) { total += *v; }));
        };
        auto x = weft::spawn([&] { side(ab, ba, 1); });
        auto y = weft::spawn([&] { side(ba, ab, 1); });
        x.join();
        y.join();
    });
    EXPECT_EQ(total, rounds);  // each round of the pair moves one value
}

TEST(Select, CanceledAndScoped) {
    weft::channel<int> a;
    weft::run([&] {
        std::error_code ec;
        auto f = weft::spawn([&] {
            EXPECT_EQ(weft::select(ec, weft::recv_case(a, [](std::optional<int>) { ADD_FAILURE(); }),
                                   weft::timeout_case(10s, [] { ADD_FAILURE(); })),
                      -1);
        });
        weft::this_fiber::yield();
        f.cancel();
        f.join();
        EXPECT_EQ(ec, std::errc::operation_canceled);
        weft::deadline_scope scope{20ms};
        try {
            weft::select(weft::recv_case(a, [](std::optional<int>) {}), weft::timeout_case(10s, [] { ADD_FAILURE(); }));
            ADD_FAILURE() << "expected timed_out";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::timed_out);
        }
    });
}

TEST(Select, SameChannelTwice) {
    weft::channel<int> a(1);
    a.send(1);
    int recvs = 0, sends = 0;
    for (int i = 0; i < 100; ++i) {
        weft::select(weft::recv_case(a, [&](std::optional<int> v) { ++recvs; EXPECT_TRUE(v); }),
                     weft::send_case(a, 1, [&] { ++sends; }));
    }
    EXPECT_EQ(recvs + sends, 100);
    EXPECT_EQ(a.size(), static_cast<std::size_t>(1 + sends - recvs));
}

}  // namespace
