// weft::jfiber: its destructor stops the fiber (ending the blocking call it
// is parked in) and joins it; the token reaches the function; moves.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <stop_token>

#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;

TEST(Jfiber, DestroyedWhileItsFiberBlocksInRecvSleepOrWait) {
    weft::run([] {
        weft::channel<int> ch;
        weft::mutex m;
        weft::condition_variable cv;
        std::error_code recv_ec;
        bool slept = true, waited = true;
        {
            weft::jfiber a([&](std::stop_token) { ch.recv(recv_ec); });
            weft::jfiber b([&](std::stop_token st) { slept = weft::this_fiber::sleep_for(1h, st); });
            weft::jfiber c([&](std::stop_token st) {
                std::unique_lock lk(m);
                waited = cv.wait(lk, st, [] { return false; });
            });
            weft::this_fiber::yield();  // all three parked
        }  // each: request_stop, join
        EXPECT_EQ(recv_ec, std::errc::operation_canceled);
        EXPECT_FALSE(slept);
        EXPECT_FALSE(waited);
    });
}

TEST(Jfiber, AFunctionWithoutATokenIsStoppedThroughItsScope) {
    weft::run([] {
        weft::channel<int> ch;
        bool threw = false;
        {
            weft::jfiber j([&] {
                try {
                    ch.recv();  // throws operation_canceled on stop
                } catch (const std::system_error& e) {
                    threw = e.code() == std::errc::operation_canceled;
                    throw;  // the expected way out: ~jfiber swallows it
                }
            });
            weft::this_fiber::yield();
        }
        EXPECT_TRUE(threw);
    });
}

TEST(Jfiber, ArgumentsTokenStopStateAndJoin) {
    weft::run([] {
        int sum = 0;
        weft::jfiber j([&](std::stop_token st, int a, int b) {
            EXPECT_FALSE(st.stop_requested());
            sum = a + b;
        }, 2, 3);
        EXPECT_TRUE(j.joinable());
        EXPECT_NE(j.id(), 0u);
        j.join();
        EXPECT_EQ(sum, 5);
        EXPECT_FALSE(j.joinable());

        weft::jfiber k = weft::spawn_jfiber([](std::stop_token st) {
            while (!st.stop_requested()) weft::this_fiber::sleep_for(1h, st);
        }, {.name = "stopper"});
        EXPECT_EQ(k.name(), "stopper");
        EXPECT_TRUE(k.get_stop_token().stop_possible());
        EXPECT_TRUE(k.request_stop());
        EXPECT_FALSE(k.request_stop());  // once
        k.join();
    });
}

TEST(Jfiber, JoinRethrowsWhatEscaped) {
    weft::run([] {
        weft::jfiber j([] { throw std::runtime_error("boom"); });
        EXPECT_THROW(j.join(), std::runtime_error);
    });
}

TEST(Jfiber, MoveAssignmentStopsAndJoinsTheOldOne) {
    weft::run([] {
        std::atomic<int> ended{0};
        auto forever = [&](std::stop_token st) {
            weft::this_fiber::sleep_for(1h, st);
            ++ended;
        };
        weft::jfiber a(forever);
        weft::jfiber b(forever);
        weft::this_fiber::yield();
        a = std::move(b);  // the first is stopped and joined here
        EXPECT_EQ(ended.load(), 1);
        weft::jfiber moved(std::move(a));
        EXPECT_FALSE(a.joinable());
        EXPECT_TRUE(moved.joinable());
    });
    // `moved` was stopped and joined by its destructor, inside run.
}

TEST(Jfiber, OnTwoWorkers) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> stopped{0};
    rt.run([&] {
        weft::channel<int> ch;
        std::vector<weft::jfiber> js;
        for (int i = 0; i < 6; ++i)
            js.emplace_back(weft::spawn_options{.worker = i % 2}, [&](std::stop_token) {
                std::error_code ec;
                ch.recv(ec);
                if (ec == std::errc::operation_canceled) ++stopped;
            });
        weft::this_fiber::sleep_for(1ms);
        js.clear();  // stops and joins all, across workers
    });
    EXPECT_EQ(stopped.load(), 6);
}

}  // namespace
