// weft::timer and weft::ticker: firing, reset and stop (before and while
// waited), saturating durations, slow receivers, fibers on one and two
// workers, and plain threads. No assertion is about elapsed time.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "weft/weft.hpp"
#include "await_support.hpp"

namespace {

using namespace weft_await;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;


TEST(Timer, FiresAndStaysFiredUntilReset) {
    weft::run([] {
        weft::timer t{2ms};
        EXPECT_TRUE(t.wait());
        EXPECT_TRUE(t.fired());
        EXPECT_TRUE(t.wait());  // level: a fired timer is seen at once
        EXPECT_FALSE(t.reset(1h));  // it had fired: not pending
        EXPECT_FALSE(t.fired());
        EXPECT_TRUE(t.reset(1ms));  // pending: Go's Reset says true
        EXPECT_TRUE(t.wait());
    });
}

TEST(Timer, ZeroAndNegativeDurationsAreDueAtOnce) {
    weft::run([] {
        weft::timer zero{0ms};
        weft::timer past{-5s};
        weft::timer long_ago{steady::time_point{}};
        EXPECT_TRUE(zero.fired());
        EXPECT_TRUE(past.fired());
        EXPECT_TRUE(long_ago.fired());
        EXPECT_TRUE(zero.wait());
        EXPECT_TRUE(past.wait());
    });
}

TEST(Timer, HugeDurationsSaturateToNever) {
    weft::run([] {
        weft::timer a{std::chrono::nanoseconds::max()};
        weft::timer b{std::chrono::hours::max()};
        weft::timer c{std::chrono::duration<double>::max()};
        for (weft::timer* t : {&a, &b, &c}) {
            EXPECT_FALSE(t->fired());
            EXPECT_TRUE(t->expiry().is_none());  // saturated at the clock's end, no overflow
        }
        weft::deadline_scope s{5ms};
        std::error_code ec;
        EXPECT_FALSE(a.wait(ec));
        EXPECT_EQ(ec, std::errc::timed_out);
        EXPECT_EQ(code_of([&] { b.wait(); }), std::errc::timed_out);
    });
}

TEST(Timer, StopBeforeWaitMakesWaitReturnFalse) {
    weft::run([] {
        weft::timer t{1h};
        EXPECT_TRUE(t.stop());
        EXPECT_FALSE(t.stop());  // already stopped
        EXPECT_FALSE(t.wait());
        EXPECT_FALSE(t.fired());
        EXPECT_TRUE(t.expiry().is_none());
        weft::timer idle;  // default: stopped
        EXPECT_FALSE(idle.wait());
    });
}

TEST(Timer, StopAndResetWhileWaited) {
    weft::run([] {
        weft::timer t{1h};
        int stopped = 0, fired = 0;
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 4; ++i) hs.push_back(weft::spawn([&] { t.wait() ? ++fired : ++stopped; }));
        weft::this_fiber::yield();  // each waiter runs until it parks
        EXPECT_TRUE(t.stop());      // wakes all four
        for (auto& h : hs) h.join();
        EXPECT_EQ(stopped, 4);
        hs.clear();

        for (int i = 0; i < 4; ++i) hs.push_back(weft::spawn([&] { t.wait() ? ++fired : ++stopped; }));
        EXPECT_FALSE(t.reset(1h));  // it was stopped
        weft::this_fiber::yield();
        EXPECT_TRUE(t.reset(2h));  // later: the waiters look again and park on
        weft::this_fiber::yield();
        EXPECT_TRUE(t.reset(1ms));  // sooner: they are woken to wait for it
        for (auto& h : hs) h.join();
        EXPECT_EQ(fired, 4);
    });
}

TEST(Timer, CancelAndDeadlineScopeEndAWait) {
    weft::run([] {
        weft::timer t{1h};
        std::error_code ec;
        auto h = weft::spawn([&] { t.wait(ec); });
        weft::this_fiber::yield();
        h.cancel();
        h.join();
        EXPECT_EQ(ec, std::errc::operation_canceled);
        EXPECT_EQ(t.fired(), false);
    });
}

TEST(Timer, PlainThreadsWaitAndStopIt) {
    weft::timer soon{2ms};
    EXPECT_TRUE(soon.wait());  // no fiber: the thread blocks
    weft::timer later{1h};
    std::atomic<bool> started{false};
    std::thread waiter([&] {
        started = true;
        EXPECT_FALSE(later.wait());
    });
    await_flag(started);
    std::this_thread::sleep_for(1ms);
    weft::run([&] { later.stop(); });  // a fiber stops what a thread waits on
    waiter.join();
}

TEST(Timer, TwoWorkersWaitAndResetAcrossThem) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> fired{0};
    rt.run([&] {
        weft::timer t{1h};
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 8; ++i)
            hs.push_back(weft::spawn_on(i % 2, [&] {
                if (t.wait()) ++fired;
            }));
        weft::this_fiber::sleep_for(1ms);
        t.reset(1ms);
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(fired.load(), 8);
}

// ---- ticker --------------------------------------------------------------------

TEST(Ticker, TicksInOrderOnItsSchedule) {
    weft::run([] {
        weft::ticker tk{1ms};
        steady::time_point last{};
        for (int i = 0; i < 5; ++i) {
            std::optional<weft::tick> t = tk.wait();
            ASSERT_TRUE(t);
            EXPECT_GT(t->due, last);
            EXPECT_LE(t->due, steady::now());
            last = t->due;
        }
    });
}

TEST(Ticker, ASlowReceiverGetsOneTickThatCountsTheDropped) {
    weft::run([] {
        const auto start = steady::now();
        weft::ticker tk{1ms};
        weft::this_fiber::sleep_for(20ms);  // at least 20 ticks fall due meanwhile
        std::optional<weft::tick> t = tk.wait();
        ASSERT_TRUE(t);
        EXPECT_GE(t->dropped, 18u);  // not a backlog: one tick, the rest counted
        EXPECT_GE(t->due, start + 19ms);
        std::optional<weft::tick> next = tk.wait();
        ASSERT_TRUE(next);
        EXPECT_GT(next->due, t->due);
        // The schedule stays on the grid of the first tick.
        EXPECT_EQ((next->due - t->due) % 1ms, 0ms);
    });
}

TEST(Ticker, StopBeforeAndWhileWaitedAndResetRestarts) {
    weft::run([] {
        weft::ticker tk{1h};
        std::optional<weft::tick> got{weft::tick{}};
        auto h = weft::spawn([&] { got = tk.wait(); });
        weft::this_fiber::yield();
        tk.stop();
        h.join();
        EXPECT_FALSE(got);
        EXPECT_TRUE(tk.stopped());
        EXPECT_FALSE(tk.wait());     // stopped before the wait
        EXPECT_FALSE(tk.try_wait());
        tk.reset(1ms);
        EXPECT_FALSE(tk.stopped());
        EXPECT_TRUE(tk.wait());
    });
}

TEST(Ticker, PeriodsMustBePositiveAndHugeOnesNeverTick) {
    EXPECT_EQ(code_of([] { weft::ticker t{0ms}; }), std::errc::invalid_argument);
    EXPECT_EQ(code_of([] { weft::ticker t{-1s}; }), std::errc::invalid_argument);
    weft::run([] {
        weft::ticker tk{1h};
        EXPECT_EQ(code_of([&] { tk.reset(0ns); }), std::errc::invalid_argument);
        weft::ticker never{std::chrono::hours::max()};
        EXPECT_FALSE(never.try_wait());
        weft::deadline_scope s{5ms};
        std::error_code ec;
        EXPECT_FALSE(never.wait(ec));
        EXPECT_EQ(ec, std::errc::timed_out);
    });
}

TEST(Ticker, EachTickGoesToOneWaiter) {
    weft::runtime rt{{.workers = 2}};
    std::vector<std::int64_t> seen[4];
    rt.run([&] {
        weft::ticker tk{1ms};
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 4; ++i)
            hs.push_back(weft::spawn_on(i % 2, [&, i] {
                for (int k = 0; k < 10; ++k)
                    if (auto t = tk.wait()) seen[i].push_back(t->due.time_since_epoch().count());
            }));
        for (auto& h : hs) h.join();
    });
    std::set<std::int64_t> all;
    std::size_t n = 0;
    for (auto& v : seen) {
        n += v.size();
        all.insert(v.begin(), v.end());
    }
    EXPECT_EQ(n, 40u);
    EXPECT_EQ(all.size(), 40u);  // no tick was handed out twice
}

TEST(Ticker, APlainThreadWaitsForTicks) {
    weft::ticker tk{1ms};
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(tk.wait());
    tk.stop();
    EXPECT_FALSE(tk.wait());
}

}  // namespace
