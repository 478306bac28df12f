// Deadline inheritance: a spawned fiber starts inside its spawner's
// effective deadline unless spawn_options::inherit_deadline is false;
// weft::thread never inherits.
#include <gtest/gtest.h>

#include <chrono>

#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(DeadlineInheritance, AChildStartsWithTheSpawnersDeadline) {
    weft::run([] {
        std::error_code child, grandchild, own_later;
        {
            weft::deadline_scope s{5ms};
            auto h = weft::spawn([&] {
                weft::this_fiber::sleep_for(1h, child);
                auto g = weft::spawn([&] { weft::this_fiber::sleep_for(1h, grandchild); });
                g.join();
                weft::deadline_scope later{1h};  // cannot extend what it inherited
                weft::this_fiber::sleep_for(1h, own_later);
            });
            h.join();
        }
        EXPECT_EQ(child, std::errc::timed_out);
        EXPECT_EQ(grandchild, std::errc::timed_out);
        EXPECT_EQ(own_later, std::errc::timed_out);
    });
}

TEST(DeadlineInheritance, OptingOutAndThreadsAndNoScope) {
    weft::run([] {
        std::error_code opted_out, no_scope;
        bool thread_slept = false;
        {
            weft::deadline_scope s{steady::now() - 1s};  // already passed
            auto h = weft::spawn([&] { weft::this_fiber::sleep_for(1ms, opted_out); }, {.inherit_deadline = false});
            weft::thread t([&] {
                weft::this_thread::sleep_for(1ms);  // would throw timed_out if it inherited
                thread_slept = true;
            });
            h.join();  // join is not a deadline-bound call
            t.join();
        }
        auto h = weft::spawn([&] { weft::this_fiber::sleep_for(1ms, no_scope); });
        h.join();
        EXPECT_FALSE(opted_out);
        EXPECT_TRUE(thread_slept);
        EXPECT_FALSE(no_scope);
    });
}

TEST(DeadlineInheritance, TaskGroupChildrenAndOtherWorkers) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> timed_out{0};
    rt.run([&] {
        weft::task_group g;
        {
            weft::deadline_scope s{5ms};
            for (int i = 0; i < 4; ++i)
                g.spawn([&] {
                    std::error_code ec;
                    weft::this_fiber::sleep_for(1h, ec);
                    if (ec == std::errc::timed_out) ++timed_out;
                }, {.worker = i % 2});
        }
        g.wait();  // outside the scope: only the children's inherited deadline ends them
    });
    EXPECT_EQ(timed_out.load(), 4);
}

}  // namespace
