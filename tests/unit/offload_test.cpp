// weft::offload: blocking functions on helper threads, only the caller parks.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sched/thread_start.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;

TEST(Offload, ReturnsTheResultAndOtherFibersKeepRunning) {
    weft::run([] {
        std::atomic<bool> release{false};
        int ticks = 0;
        auto ticker = weft::spawn([&] {
            // Runs while the offloaded call blocks its helper thread.
            for (int i = 0; i < 100000 && !release; ++i) {
                ++ticks;
                weft::this_fiber::sleep_for(100us);
                if (ticks >= 5) release = true;
            }
        });
        const auto main_thread = std::this_thread::get_id();
        std::string r = weft::offload([&] {
            EXPECT_NE(std::this_thread::get_id(), main_thread);
            for (int i = 0; i < 50000 && !release; ++i) std::this_thread::sleep_for(100us);
            return std::string("done");
        });
        EXPECT_EQ(r, "done");
        EXPECT_GE(ticks, 5);
        ticker.join();
    });
}

TEST(Offload, PropagatesExceptions) {
    weft::run([] {
        EXPECT_THROW(weft::offload([]() -> int { throw std::domain_error("off"); }), std::domain_error);
        weft::offload([] {});  // void works too
    });
}

TEST(Offload, ManyFibersOffloadAtOnce) {
    weft::run([] {
        std::vector<weft::fiber_handle> hs;
        std::atomic<int> sum{0};
        for (int i = 0; i < 64; ++i)
            hs.push_back(weft::spawn([&, i] { sum += weft::offload([i] { std::this_thread::sleep_for(1ms); return i; }); }));
        for (auto& h : hs) h.join();
        EXPECT_EQ(sum.load(), 63 * 64 / 2);
    });
}

TEST(Offload, OutsideAFiberRunsInline) {
    EXPECT_EQ(weft::offload([] { return std::this_thread::get_id(); }), std::this_thread::get_id());
}

TEST(Offload, AWaitingFiberIsNotADeadlock) {
    weft::run([] {
        // The only fiber waits for a helper thread: the idle loop must wait, not report a deadlock.
        EXPECT_EQ(weft::offload([] { std::this_thread::sleep_for(20ms); return 7; }), 7);
    });
}

}  // namespace

namespace {

TEST(Resolve, LocalhostAndNumericNames) {
    weft::run([] {
        auto v4 = weft::net::resolve("127.0.0.1", "6379");
        ASSERT_FALSE(v4.empty());
        EXPECT_EQ(v4.front().to_string(), "127.0.0.1:6379");
        auto local = weft::net::resolve("localhost", "80");
        ASSERT_FALSE(local.empty());
        for (const auto& a : local) EXPECT_EQ(a.port(), 80);
    });
}

TEST(Resolve, UnknownNamesAndBadInputAreErrors) {
    weft::run([] {
        std::error_code ec;
        auto none = weft::net::resolve("no-such-host.invalid", "80", ec);  // .invalid never resolves
        EXPECT_TRUE(ec);
        EXPECT_TRUE(none.empty());
        EXPECT_FALSE(ec.message().empty());
        weft::net::resolve("", "80", ec);
        EXPECT_EQ(ec, std::errc::invalid_argument);
        weft::net::resolve("127.0.0.1", "not-a-service-name-xyz", ec);
        EXPECT_TRUE(ec);
        EXPECT_THROW(weft::net::resolve("no-such-host.invalid", "80"), std::system_error);
    });
}

}  // namespace

namespace {
// In a fresh process (the pool is sized once, before its first use): one
// thread and a queue of two; 40 fibers offload at once. Every call completes,
// never more than one runs at a time, and submitters beyond the queue park.
void bounded_pool_child() {
    if (!weft::configure_offload({.threads = 1, .queue_capacity = 2})) std::exit(3);
    std::atomic<int> running{0}, peak{0}, done{0};
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 40; ++i)
            hs.push_back(weft::spawn([&] {
                weft::offload([&] {
                    const int now = ++running;
                    int p = peak.load();
                    while (now > p && !peak.compare_exchange_weak(p, now)) {
                    }
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                    --running;
                });
                ++done;
            }));
        for (auto& h : hs) h.join();
    });
    if (weft::configure_offload({})) std::exit(4);  // too late now
    std::exit(done == 40 && peak == 1 ? 0 : 5);
}
}  // namespace

TEST(OffloadDeathTest, BoundedQueueParksSubmittersAndLosesNothing) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(bounded_pool_child(), ::testing::ExitedWithCode(0), "");
}

namespace {
// The pool's start fails at its third thread, as RLIMIT_NPROC or a pid limit
// makes it fail: offload throws, and the calling worker goes on (no hang in
// the unwinding, no thread left on a freed pool); nothing was started, so
// the pool can be sized again, and the next call starts it.
[[noreturn]] void failed_start_child() {
    weft::detail::fail_thread_start_for_test(weft::detail::thread_role::offload, 2);
    int code = 0;
    weft::run([&] {
        try {
            weft::offload([] { return 1; });
            code = 2;  // no exception
        } catch (const std::system_error& e) {
            if (e.code() != std::errc::resource_unavailable_try_again) code = 3;
        }
        // The worker still runs its other fibers.
        auto other = weft::spawn([] { weft::this_fiber::yield(); });
        other.join();
        // The ec form of resolve reports it as an error code.
        std::error_code ec;
        weft::net::resolve("localhost", "80", ec);
        if (code == 0 && ec != std::errc::resource_unavailable_try_again) code = 4;
        if (code == 0 && !weft::configure_offload({.threads = 2})) code = 5;  // no half-made pool
        weft::detail::fail_thread_start_for_test(weft::detail::thread_role::offload, -1);
        if (code == 0 && weft::offload([] { return 7; }) != 7) code = 6;
        if (code == 0 && weft::configure_offload({})) code = 7;  // started now
    });
    std::exit(code);
}
}  // namespace

TEST(OffloadDeathTest, APoolThatCannotStartThrowsAndCanBeRetried) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(failed_start_child(), ::testing::ExitedWithCode(0), "");
}
