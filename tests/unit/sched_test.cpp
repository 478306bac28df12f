// The scheduler's timers: heap order and removal, sleeping fibers waking in
// deadline order, deadlines already passed, sleepers among busy fibers.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <sstream>
#include <vector>

#include "context/annotate.hpp"
#include "sched/timer_heap.hpp"
#include "sched/worker.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using weft::detail::timer_heap;
using weft::detail::timer_node;

TEST(TimerHeap, PopsInDeadlineOrderTiesByArrival) {
    timer_heap h;
    std::vector<timer_node> nodes(1000);
    std::mt19937 rng(7);
    for (auto& n : nodes) {
        n.deadline_ns = static_cast<std::int64_t>(rng() % 100);  // many ties
        h.push(&n);
    }
    std::int64_t last_deadline = -1;
    std::uint64_t last_seq = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        timer_node* t = h.pop();
        ASSERT_NE(t, nullptr);
        ASSERT_FALSE(t->queued());
        if (t->deadline_ns == last_deadline) ASSERT_GT(t->seq, last_seq);
        else ASSERT_GT(t->deadline_ns, last_deadline);
        last_deadline = t->deadline_ns;
        last_seq = t->seq;
    }
    EXPECT_TRUE(h.empty());
    EXPECT_EQ(h.pop(), nullptr);
}

TEST(TimerHeap, RemoveAnyNodeKeepsOrder) {
    timer_heap h;
    std::vector<timer_node> nodes(2000);
    std::mt19937 rng(3);
    for (auto& n : nodes) {
        n.deadline_ns = static_cast<std::int64_t>(rng() % 100000);
        h.push(&n);
    }
    std::vector<timer_node*> removed;
    for (std::size_t i = 0; i < nodes.size(); i += 3) {
        h.remove(&nodes[i]);
        h.remove(&nodes[i]);  // removing twice is harmless
        removed.push_back(&nodes[i]);
    }
    EXPECT_EQ(h.size(), nodes.size() - removed.size());
    std::int64_t last = -1;
    while (timer_node* t = h.pop()) {
        ASSERT_GE(t->deadline_ns, last);
        ASSERT_EQ(std::find(removed.begin(), removed.end(), t), removed.end());
        last = t->deadline_ns;
    }
}

TEST(Sleep, ThousandsOfSleepersWakeInDeadlineOrder) {
#if WEFT_ASAN || WEFT_TSAN
    constexpr int n = 500;  // a sanitizer's switch is ~100x slower: fewer fibers, more margin
    constexpr auto margin = 2s;
#else
    constexpr int n = 2000;
    constexpr auto margin = 100ms;
#endif
    std::vector<int> order;
    std::vector<std::chrono::steady_clock::time_point> deadlines(n);
    std::vector<bool> late(n, false);
    std::vector<std::int64_t> offsets_us(n);
    std::mt19937 rng(11);
    for (auto& o : offsets_us) o = rng() % 100000;
    std::chrono::steady_clock::time_point base;  // outlives main: the sleepers are detached
    int started = 0;
    weft::run([&] {
        for (int i = 0; i < n; ++i)
            weft::spawn([&, i] {
                // Gate: the last fiber to start sets the base, so no deadline
                // can pass before its sleeper has had the chance to sleep.
                if (++started == n) base = std::chrono::steady_clock::now() + margin;
                for (int spins = 0; started < n && spins < 1'000'000; ++spins) weft::this_fiber::yield();
                deadlines[i] = base + std::chrono::microseconds(offsets_us[i]);
                late[i] = std::chrono::steady_clock::now() >= deadlines[i];
                weft::this_fiber::sleep_until(deadlines[i]);
                EXPECT_GE(std::chrono::steady_clock::now(), deadlines[i]);
                order.push_back(i);
            }, {.stack_size = 16 * 1024}).detach();
    });
    ASSERT_EQ(order.size(), static_cast<std::size_t>(n));
    // A sleeper whose deadline had passed before it slept (only on a badly
    // overloaded machine) legitimately returns at once: order the others.
    std::vector<int> on_time;
    for (int i : order)
        if (!late[i]) on_time.push_back(i);
    ASSERT_GT(on_time.size(), static_cast<std::size_t>(n / 2));
    for (std::size_t i = 1; i < on_time.size(); ++i)
        ASSERT_LE(deadlines[on_time[i - 1]], deadlines[on_time[i]]) << "at " << i;
}

TEST(Sleep, SleepForActuallySleeps) {
    weft::run([] {
        const auto t0 = std::chrono::steady_clock::now();
        weft::this_fiber::sleep_for(20ms);
        EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
    });
}

TEST(Sleep, DeadlineAlreadyPassedReturnsAtOnceAfterLettingOthersRun) {
    weft::run([] {
        bool other_ran = false;
        auto h = weft::spawn([&] { other_ran = true; });
        weft::this_fiber::sleep_until(std::chrono::steady_clock::now() - 1s);
        EXPECT_TRUE(other_ran);
        weft::this_fiber::sleep_for(-5ms);
        weft::this_fiber::sleep_for(0ms);
        h.join();
    });
}

TEST(Sleep, OtherClocksAreConverted) {
    weft::run([] {
        const auto t0 = std::chrono::steady_clock::now();
        weft::this_fiber::sleep_until(std::chrono::system_clock::now() + 10ms);
        EXPECT_GE(std::chrono::steady_clock::now() - t0, 9ms);
    });
}

TEST(Sleep, SleepersWakeWhileOtherFibersSpin) {
    weft::run([] {
        bool woke = false;
        auto sleeper = weft::spawn([&] {
            weft::this_fiber::sleep_for(5ms);
            woke = true;
        });
        auto spinner = weft::spawn([&] {
            // Never empties the run queue; bounded so a broken scheduler fails, not hangs.
            for (long i = 0; i < 50'000'000 && !woke; ++i) weft::this_fiber::yield();
        });
        for (long i = 0; i < 50'000'000 && !woke; ++i) weft::this_fiber::yield();
        EXPECT_TRUE(woke);
        spinner.join();
        sleeper.join();
    });
}

TEST(Sleep, AlternatingSleepAndWorkKeepsAllStacksIntact) {
    weft::run([] {
        std::vector<weft::fiber_handle> hs;
        int good = 0;
        for (int i = 0; i < 200; ++i)
            hs.push_back(weft::spawn([&, i] {
                int local = i * 3;
                for (int r = 0; r < 3; ++r) {
                    weft::this_fiber::sleep_for(std::chrono::microseconds((i * 37 + r * 11) % 500));
                    local += 1;
                }
                if (local == i * 3 + 3) ++good;
            }));
        for (auto& h : hs) h.join();
        EXPECT_EQ(good, 200);
    });
}

TEST(Worker, DumpListsLiveFibers) {
    weft::run([] {
        // Long enough that a slow machine (qemu) cannot see it pass before
        // the dump; canceled afterwards.
        auto h = weft::spawn([] {
            std::error_code ec;
            weft::this_fiber::sleep_for(60s, ec);
        }, {.name = "napper"});
        weft::this_fiber::yield();
        std::ostringstream os;
        weft::detail::worker::current()->dump(os);
        EXPECT_NE(os.str().find("'napper' sleeping on sleep"), std::string::npos) << os.str();
        EXPECT_NE(os.str().find("'main' running"), std::string::npos) << os.str();
        h.cancel();
        h.join();
    });
}

// Durations too long for the clock saturate: the call waits (until canceled)
// instead of returning at once through signed overflow.
TEST(SleepTest, HugeDurationsWaitUntilCanceled) {
    weft::run([] {
        std::atomic<int> returned{0};
        std::error_code ec_max, ec_years, ec_scope;
        auto a = weft::spawn([&] {
            weft::this_fiber::sleep_for(std::chrono::seconds::max(), ec_max);
            ++returned;
        });
        auto b = weft::spawn([&] {
            weft::this_fiber::sleep_for(std::chrono::years(300), ec_years);
            ++returned;
        });
        auto c = weft::spawn([&] {
            weft::deadline_scope s{std::chrono::years(1000)};
            weft::this_fiber::sleep_for(std::chrono::hours::max(), ec_scope);
            ++returned;
        });
        weft::this_fiber::sleep_for(20ms);
        EXPECT_EQ(returned.load(), 0) << "a saturated sleep returned at once";
        a.cancel();
        b.cancel();
        c.cancel();
        a.join();
        b.join();
        c.join();
        EXPECT_EQ(ec_max, std::errc::operation_canceled);
        EXPECT_EQ(ec_years, std::errc::operation_canceled);
        EXPECT_EQ(ec_scope, std::errc::operation_canceled);
    });
}

TEST(SleepTest, DeadlineFromAHugeDurationIsNone) {
    EXPECT_TRUE(weft::deadline(std::chrono::seconds::max()).is_none());
    const std::int64_t past = weft::deadline(-std::chrono::hours(1)).steady_ns();
    EXPECT_TRUE(past <= weft::deadline(0s).steady_ns()) << "a negative duration is a deadline already passed";
}

}  // namespace
