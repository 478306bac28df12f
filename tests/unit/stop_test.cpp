// std::stop_token in weft: stop_scope around any blocking call (fibers on
// one or two workers, plain threads), condition_variable and sleep with a
// token, nesting, and the scope's end lifting the cancellation.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stop_token>
#include <thread>

#include "weft/weft.hpp"
#include "await_support.hpp"

namespace {

using namespace weft_await;

using namespace std::chrono_literals;


TEST(StopScope, StopEndsABlockedRecvAndTheScopeEndLiftsIt) {
    weft::run([] {
        weft::channel<int> ch;
        std::stop_source ss;
        std::error_code in_scope, after_scope;
        auto h = weft::spawn([&] {
            {
                weft::stop_scope scope{ss.get_token()};
                ch.recv(in_scope);
                std::error_code again;
                ch.recv(again);  // still inside: fails at once
                EXPECT_EQ(again, std::errc::operation_canceled);
            }
            ch.recv_for(1ms, after_scope);  // outside: an ordinary wait again
        });
        weft::this_fiber::yield();  // parked in recv
        EXPECT_TRUE(ss.request_stop());
        h.join();
        EXPECT_EQ(in_scope, std::errc::operation_canceled);
        EXPECT_EQ(after_scope, std::errc::timed_out);
    });
}

TEST(StopScope, StopRequestedBeforeTheScopeFailsTheFirstCall) {
    weft::run([] {
        std::stop_source ss;
        ss.request_stop();
        weft::stop_scope scope{ss.get_token()};
        std::error_code ec;
        weft::this_fiber::sleep_for(1h, ec);
        EXPECT_EQ(ec, std::errc::operation_canceled);
        weft::semaphore sem{0};
        EXPECT_FALSE(sem.try_acquire_for(1h));
    });
}

TEST(StopScope, ATokenWithoutStateNeverCancels) {
    weft::run([] {
        weft::stop_scope scope{std::stop_token{}};
        std::error_code ec;
        weft::this_fiber::sleep_for(1ms, ec);
        EXPECT_FALSE(ec);
    });
}

TEST(StopScope, NestedScopesAnyStoppedOneCancels) {
    weft::run([] {
        std::stop_source outer, inner;
        std::error_code ec1, ec2;
        auto h = weft::spawn([&] {
            weft::stop_scope a{outer.get_token()};
            {
                weft::stop_scope b{inner.get_token()};
                weft::this_fiber::sleep_for(1h, ec1);
            }
            weft::this_fiber::sleep_for(1h, ec2);  // the outer one is still stopped
        });
        weft::this_fiber::yield();
        outer.request_stop();
        h.join();
        EXPECT_EQ(ec1, std::errc::operation_canceled);
        EXPECT_EQ(ec2, std::errc::operation_canceled);
    });
}

TEST(StopScope, AStopFromAnotherWorkerOrThread) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<bool> parked{false};
    std::error_code ec;
    std::stop_source ss;
    rt.run([&] {
        weft::channel<int> ch;
        auto h = weft::spawn_on(1, [&] {
            weft::stop_scope scope{ss.get_token()};
            parked = true;
            ch.recv(ec);
        });
        std::thread stopper([&] {
            await_flag(parked);
            ss.request_stop();  // a plain thread, while the fiber waits on worker 1
        });
        h.join();
        stopper.join();
    });
    EXPECT_EQ(ec, std::errc::operation_canceled);
}

TEST(StopScope, APlainThreadsWaitIsEndedToo) {
    weft::channel<int> ch;
    std::stop_source ss;
    std::atomic<bool> started{false};
    std::error_code ec;
    std::thread t([&] {
        weft::stop_scope scope{ss.get_token()};
        started = true;
        ch.recv(ec);
    });
    await_flag(started);
    ss.request_stop();
    t.join();
    EXPECT_EQ(ec, std::errc::operation_canceled);
    // The thread's scope is over: its next wait is not canceled.
    std::error_code later;
    ch.recv_for(1ms, later);
    EXPECT_EQ(later, std::errc::timed_out);
}

TEST(StopScope, CancelsAnOffloadWait) {
    weft::run([] {
        std::stop_source ss;
        // Shared with the job, which outlives the abandoned wait.
        auto release = std::make_shared<std::atomic<bool>>(false);
        std::error_code ec;
        auto h = weft::spawn([&] {
            weft::stop_scope scope{ss.get_token()};
            try {
                weft::offload([release] {
                    for (int i = 0; i < 10000 && !*release; ++i) std::this_thread::sleep_for(1ms);
                });
            } catch (const std::system_error& e) {
                ec = e.code();
            }
        });
        weft::this_fiber::sleep_for(1ms);
        ss.request_stop();
        h.join();
        *release = true;
        EXPECT_EQ(ec, std::errc::operation_canceled);
    });
}

// ---- calls that take a std::stop_token ---------------------------------------

TEST(StopToken, SleepReturnsFalseWhenStopped) {
    weft::run([] {
        std::stop_source ss;
        EXPECT_TRUE(weft::this_fiber::sleep_for(0ms, ss.get_token()));
        EXPECT_TRUE(weft::this_fiber::sleep_for(1ms, ss.get_token()));
        bool slept = true;
        auto h = weft::spawn([&] { slept = weft::this_fiber::sleep_for(std::chrono::seconds::max(), ss.get_token()); });
        weft::this_fiber::yield();
        ss.request_stop();
        h.join();
        EXPECT_FALSE(slept);
        EXPECT_FALSE(weft::this_fiber::sleep_until(std::chrono::steady_clock::now() + 1h, ss.get_token()));
        std::error_code ec;
        EXPECT_FALSE(weft::this_fiber::sleep_for(1h, ss.get_token(), ec));
        EXPECT_FALSE(ec);  // a stop is not an error
    });
}

TEST(StopToken, ConditionVariableWaitReturnsThePredicateOnStop) {
    weft::run([] {
        weft::mutex m;
        weft::condition_variable cv;
        bool ready = false;
        std::stop_source ss;
        bool r1 = true, r2 = true, r3 = true;
        auto h = weft::spawn([&] {
            std::unique_lock lk(m);
            r1 = cv.wait(lk, ss.get_token(), [&] { return ready; });
            EXPECT_TRUE(lk.owns_lock());
            r2 = cv.wait_for(lk, ss.get_token(), 1h, [&] { return ready; });  // stopped: at once
            r3 = cv.wait_until(lk, ss.get_token(), std::chrono::steady_clock::now() + 1h, [&] { return ready; });
        });
        weft::this_fiber::yield();
        ss.request_stop();
        h.join();
        EXPECT_FALSE(r1);
        EXPECT_FALSE(r2);
        EXPECT_FALSE(r3);
        // Not stopped: notified, or timed out.
        std::stop_source live;
        auto h2 = weft::spawn([&] {
            std::unique_lock lk(m);
            r1 = cv.wait(lk, live.get_token(), [&] { return ready; });
            r2 = cv.wait_for(lk, live.get_token(), 1ms, [] { return false; });
        });
        weft::this_fiber::yield();
        {
            std::lock_guard lk(m);
            ready = true;
        }
        cv.notify_all();
        h2.join();
        EXPECT_TRUE(r1);
        EXPECT_FALSE(r2);
    });
}

TEST(StopToken, ACanceledFiberLeavesTheWaitInsteadOfSpinning) {
    weft::run([] {
        weft::mutex m;
        weft::condition_variable cv;
        std::stop_source ss;
        bool r = true;
        auto h = weft::spawn([&] {
            std::unique_lock lk(m);
            r = cv.wait(lk, ss.get_token(), [] { return false; });
        });
        weft::this_fiber::yield();
        h.cancel();
        h.join();
        EXPECT_FALSE(r);
    });
}

TEST(StopToken, AStdJthreadWaitsOnAWeftConditionVariable) {
    weft::mutex m;
    weft::condition_variable cv;
    std::atomic<bool> started{false}, returned{false};
    {
        std::jthread t([&](std::stop_token st) {
            std::unique_lock lk(m);
            started = true;
            EXPECT_FALSE(cv.wait(lk, st, [] { return false; }));
            returned = true;
        });
        await_flag(started);
    }  // ~jthread: request_stop, join
    EXPECT_TRUE(returned.load());
}

}  // namespace
