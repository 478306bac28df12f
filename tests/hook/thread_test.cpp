// weft::thread against std::thread's contract: constructor with arguments,
// join, detach, joinable, ids (compared, hashed, printed), swap, move;
// weft::this_thread; and the loud failure outside a fiber.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;

TEST(Thread, RunsTheCallableWithDecayCopiedArguments) {
    weft::run([] {
        int sum = 0;
        std::string text = "abc";
        auto owned = std::make_unique<int>(5);
        weft::thread t(
            [&sum](int a, const std::string& s, std::unique_ptr<int> p, int& ref) {
                sum = a + static_cast<int>(s.size()) + *p;
                ref = 7;
            },
            10, text, std::move(owned), std::ref(sum));
        EXPECT_TRUE(t.joinable());
        t.join();
        EXPECT_FALSE(t.joinable());
        EXPECT_EQ(sum, 7);  // the reference argument was written last
        struct functor {
            int* out;
            void operator()(int v) const { *out = v; }
        };
        int v = 0;
        weft::thread f(functor{&v}, 42);
        f.join();
        EXPECT_EQ(v, 42);
        EXPECT_THROW(f.join(), std::system_error);
    });
}

TEST(Thread, IdsBehaveLikeStdThreadIds) {
    weft::run([] {
        weft::thread::id mine = weft::this_thread::get_id();
        weft::thread::id seen;
        weft::thread t([&] { seen = weft::this_thread::get_id(); });
        const weft::thread::id tid = t.get_id();
        EXPECT_NE(tid, weft::thread::id());
        EXPECT_NE(tid, mine);
        t.join();
        EXPECT_EQ(seen, tid);
        EXPECT_EQ(t.get_id(), weft::thread::id());
        std::unordered_set<weft::thread::id> set{mine, tid, weft::thread::id()};
        EXPECT_EQ(set.size(), 3u);
        EXPECT_TRUE(mine < tid || tid < mine);
        std::ostringstream os;
        os << tid << ' ' << weft::thread::id();
        EXPECT_EQ(os.str(), std::to_string(tid.value()) + " thread::id of a non-executing thread");
    });
    // Outside fibers: a stable id per OS thread, never a fiber's.
    const weft::thread::id main_id = weft::this_thread::get_id();
    EXPECT_EQ(main_id, weft::this_thread::get_id());
    weft::thread::id other;
    std::thread([&] { other = weft::this_thread::get_id(); }).join();
    EXPECT_NE(main_id, other);
    EXPECT_NE(main_id, weft::thread::id());
}

TEST(Thread, DetachSwapAndMove) {
    weft::run([] {
        int done = 0;
        weft::thread a([&] { ++done; });
        weft::thread b([&] {
            weft::this_thread::sleep_for(1ms);
            ++done;
        });
        const auto ida = a.get_id(), idb = b.get_id();
        a.swap(b);
        EXPECT_EQ(a.get_id(), idb);
        EXPECT_EQ(b.get_id(), ida);
        swap(a, b);
        EXPECT_EQ(a.get_id(), ida);
        weft::thread c(std::move(a));
        EXPECT_FALSE(a.joinable());
        EXPECT_EQ(c.get_id(), ida);
        weft::thread d;
        d = std::move(b);
        c.join();
        d.detach();
        EXPECT_FALSE(d.joinable());
        EXPECT_THROW(d.detach(), std::system_error);
        while (done < 2) weft::this_thread::sleep_for(1ms);
        EXPECT_GE(weft::thread::hardware_concurrency(), 1u);
    });
}

TEST(Thread, ThisThreadYieldAndSleep) {
    weft::run([] {
        std::vector<int> order;
        weft::thread t([&] {
            order.push_back(1);
            weft::this_thread::yield();
            order.push_back(3);
        });
        weft::this_thread::yield();
        order.push_back(2);
        t.join();
        EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
        const auto t0 = std::chrono::steady_clock::now();
        weft::this_thread::sleep_until(std::chrono::system_clock::now() + 2ms);
        weft::this_thread::sleep_for(2ms);
        EXPECT_GE(std::chrono::steady_clock::now() - t0, 3ms);
    });
    weft::this_thread::sleep_for(1ms);  // outside a fiber: the OS thread sleeps
    weft::this_thread::yield();
}

TEST(ThreadTest, CreatedOutsideAFiberRunsOnTheProcessRuntime) {
    // A plain main() starting weft::threads, as it started std::threads.
    std::atomic<int> on_fiber{0};
    std::vector<weft::thread> ts;
    for (int i = 0; i < 8; ++i)
        ts.emplace_back([&](int k) {
            weft::this_thread::sleep_for(std::chrono::milliseconds(k));
            if (weft::in_fiber()) ++on_fiber;
        }, i);
    for (auto& t : ts) t.join();
    EXPECT_EQ(on_fiber.load(), 8);
}

}  // namespace
