// weft::thread against std::thread's contract: constructor with arguments,
// join, detach, joinable, ids (compared, hashed, printed), swap, move;
// weft::this_thread; and the loud failure outside a fiber.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_set>
#include <utility>
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

namespace {
// VmSize and VmPTE of this process, in KiB (/proc/self/status); 0 if unreadable.
std::pair<long, long> vm_size_and_pte() {
    long size = 0, pte = 0;
    if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        while (std::fgets(line, sizeof line, f)) {
            std::sscanf(line, "VmSize: %ld kB", &size);
            std::sscanf(line, "VmPTE: %ld kB", &pte);
        }
        std::fclose(f);
    }
    return {size, pte};
}
}  // namespace

// The porting path's thread churn: short weft::threads from a plain main(),
// about 100 alive at a time, with a blocking hooked call in each. Address
// space and page tables stay bounded: the stacks are reused.
TEST(ThreadTest, ChurnFromAPlainMainKeepsAddressSpaceAndPageTablesBounded) {
    auto round = [] {
        std::vector<weft::thread> ts;
        for (int i = 0; i < 100; ++i) ts.emplace_back([] { ::usleep(100); });
        for (auto& t : ts) t.join();
    };
    for (int r = 0; r < 5; ++r) round();  // the pools reach their working size
    const auto before = vm_size_and_pte();
    for (int r = 0; r < 100; ++r) round();  // 10,000 more threads
    const auto after = vm_size_and_pte();
    ASSERT_GT(before.first, 0);
    // Without reuse each thread would keep its 256 KiB stack mapped: 2.4 GiB
    // more address space, tens of MiB of page tables.
    EXPECT_LT(after.first - before.first, 64 * 1024) << "VmSize grew by " << after.first - before.first << " KiB";
    EXPECT_LT(after.second - before.second, 1024) << "VmPTE grew by " << after.second - before.second << " KiB";
}
