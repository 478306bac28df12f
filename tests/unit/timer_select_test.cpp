// select over timers, tickers and weft::after together with channels:
// readiness, fairness, reset and stop while a select is parked, timeouts,
// default cases, deadline scopes. No assertion is about elapsed time.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(TimerSelect, AChannelAndATickerInOneLoop) {
    weft::run([] {
        weft::channel<int> ch;
        auto producer = weft::spawn([&] {
            for (int i = 0; i < 3; ++i) {
                weft::this_fiber::sleep_for(3ms);
                ch.send(i);
            }
            ch.close();
        });
        weft::ticker tk{1ms};
        int values = 0, ticks = 0;
        bool closed = false;
        for (int round = 0; round < 100000 && !closed; ++round) {
            weft::select(weft::recv_case(ch, [&](std::optional<int> v) { v ? (void)++values : (void)(closed = true); }),
                         weft::recv_case(tk, [&](weft::tick) { ++ticks; }));
        }
        producer.join();
        EXPECT_TRUE(closed);
        EXPECT_EQ(values, 3);
        EXPECT_GE(ticks, 1);  // the producer slept 9 ms in all: ticks fell due
    });
}

TEST(TimerSelect, AfterFiresWhenNothingElseIsReady) {
    weft::run([] {
        weft::channel<int> ch;
        steady::time_point at{};
        const int i = weft::select(weft::recv_case(ch, [](std::optional<int>) { ADD_FAILURE(); }),
                                   weft::recv_case(weft::after(2ms), [&](steady::time_point t) { at = t; }));
        EXPECT_EQ(i, 1);
        EXPECT_LE(at, steady::now());
        // A time point already passed: due at once, like a ready channel.
        EXPECT_EQ(weft::select(weft::recv_case(weft::after(-1s), [](auto) {})), 0);
    });
}

TEST(TimerSelect, AReadyChannelBeatsAPendingOrStoppedTimer) {
    weft::run([] {
        weft::channel<int> ch(1);
        weft::timer pending{1h};
        weft::timer stopped;
        ch.send(7);
        int got = 0;
        EXPECT_EQ(weft::select(weft::recv_case(pending, [](auto) {}), weft::recv_case(stopped, [](auto) {}),
                               weft::recv_case(ch, [&](std::optional<int> v) { got = *v; })),
                  2);
        EXPECT_EQ(got, 7);
    });
}

TEST(TimerSelect, FiredTimersAndReadyChannelsShareTheWins) {
    weft::run([] {
        weft::channel<int> ch(weft::unbounded);
        for (int i = 0; i < 400; ++i) ch.send(i);
        weft::timer fired{0ms};  // stays fired
        int by_channel = 0, by_timer = 0;
        for (int i = 0; i < 400; ++i)
            weft::select(weft::recv_case(ch, [&](std::optional<int>) { ++by_channel; }),
                         weft::recv_case(fired, [&](auto) { ++by_timer; }));
        EXPECT_GT(by_channel, 0);  // chance of a miss: 2^-400
        EXPECT_GT(by_timer, 0);
        EXPECT_EQ(by_channel + by_timer, 400);
    });
}

TEST(TimerSelect, ResetAndStopWhileASelectIsParked) {
    weft::run([] {
        weft::channel<int> never;
        weft::timer t{1h};
        int which = -1;
        auto h = weft::spawn([&] {
            which = weft::select(weft::recv_case(never, [](std::optional<int>) {}), weft::recv_case(t, [](auto) {}));
        });
        weft::this_fiber::yield();  // parked on both
        t.stop();                   // woken: looks again, parks on (a stopped timer is never ready)
        weft::this_fiber::yield();
        EXPECT_EQ(which, -1);
        t.reset(1ms);  // woken again: waits for the new expiry
        h.join();
        EXPECT_EQ(which, 1);
    });
}

TEST(TimerSelect, ATickerResetWhileSelectedOnAnotherWorker) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> which{-1};
    rt.run([&] {
        weft::channel<int> never;
        weft::ticker tk{1h};
        auto h = weft::spawn_on(1, [&] {
            which = weft::select(weft::recv_case(never, [](std::optional<int>) {}),
                                 weft::recv_case(tk, [](weft::tick) {}));
        });
        weft::this_fiber::sleep_for(1ms);
        tk.reset(1ms);
        h.join();
    });
    EXPECT_EQ(which.load(), 1);
}

TEST(TimerSelect, TimeoutDefaultAndDeadlineScope) {
    weft::run([] {
        weft::timer later{1h};
        weft::timer due{0ms};
        // The timeout comes first.
        EXPECT_EQ(weft::select(weft::recv_case(later, [](auto) {}), weft::timeout_case(1ms)), 1);
        // default_case: a due timer is ready, a pending one is not.
        EXPECT_EQ(weft::select(weft::recv_case(later, [](auto) {}), weft::default_case()), 1);
        EXPECT_EQ(weft::select(weft::recv_case(due, [](auto) {}), weft::default_case()), 0);
        // An enclosing scope that ends before the timer: timed_out.
        weft::deadline_scope s{2ms};
        std::error_code ec;
        EXPECT_EQ(weft::select(ec, weft::recv_case(later, [](auto) {})), -1);
        EXPECT_EQ(ec, std::errc::timed_out);
    });
}

TEST(TimerSelect, StopScopeCancelsASelectOnATimer) {
    weft::run([] {
        std::stop_source ss;
        weft::timer later{1h};
        std::error_code ec;
        auto h = weft::spawn([&] {
            weft::stop_scope scope{ss.get_token()};
            weft::select(ec, weft::recv_case(later, [](auto) {}));
        });
        weft::this_fiber::yield();
        ss.request_stop();
        h.join();
        EXPECT_EQ(ec, std::errc::operation_canceled);
    });
}

TEST(TimerSelect, FromAPlainThread) {
    weft::channel<int> ch;
    weft::ticker tk{1ms};
    int ticks = 0;
    for (int i = 0; i < 3; ++i)
        weft::select(weft::recv_case(ch, [](std::optional<int>) {}), weft::recv_case(tk, [&](weft::tick) { ++ticks; }));
    EXPECT_EQ(ticks, 3);
}

}  // namespace
