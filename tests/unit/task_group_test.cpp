// weft::task_group (structured concurrency) and weft::signal_wait.
#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "weft/weft.hpp"

using namespace std::chrono_literals;

namespace {

TEST(TaskGroupTest, WaitJoinsEveryChild) {
    std::atomic<int> done{0};
    weft::run([&] {
        weft::task_group g;
        for (int i = 0; i < 100; ++i)
            g.spawn([&] {
                weft::this_fiber::sleep_for(1ms);
                ++done;
            });
        g.wait();
        EXPECT_EQ(done.load(), 100);
    });
}

TEST(TaskGroupTest, FirstExceptionCancelsTheRestAndIsRethrown) {
    std::atomic<int> canceled_sleep{0}, canceled_recv{0}, canceled_io{0};
    weft::run([&] {
        weft::channel<int> never(0);
        auto listener = weft::net::tcp_listener::bind(weft::net::address::parse("127.0.0.1:0"));
        auto client = weft::net::tcp_stream::connect(listener.local_address());
        auto server = listener.accept();
        weft::task_group g;
        g.spawn([&] {
            std::error_code ec;
            weft::this_fiber::sleep_for(60s, ec);
            if (ec == std::errc::operation_canceled) ++canceled_sleep;
        });
        g.spawn([&] {
            std::error_code ec;
            never.recv(ec);
            if (ec == std::errc::operation_canceled) ++canceled_recv;
        });
        g.spawn([&] {
            char buf[16];
            std::error_code ec;
            server.read(buf, sizeof buf, ec);
            if (ec == std::errc::operation_canceled) ++canceled_io;
        });
        g.spawn([] {
            weft::this_fiber::sleep_for(5ms);
            throw std::runtime_error("child failed");
        });
        try {
            g.wait();
            ADD_FAILURE() << "wait() did not rethrow";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "child failed");
        }
    });
    EXPECT_EQ(canceled_sleep.load(), 1);
    EXPECT_EQ(canceled_recv.load(), 1);
    EXPECT_EQ(canceled_io.load(), 1);
}

TEST(TaskGroupTest, CancelingTheWaiterCancelsTheChildren) {
    std::atomic<int> canceled{0};
    weft::run([&] {
        auto parent = weft::spawn([&] {
            weft::task_group g;
            for (int i = 0; i < 3; ++i)
                g.spawn([&] {
                    std::error_code ec;
                    weft::this_fiber::sleep_for(60s, ec);
                    if (ec == std::errc::operation_canceled) ++canceled;
                });
            EXPECT_THROW(g.wait(), std::system_error);
        });
        weft::this_fiber::sleep_for(5ms);
        parent.cancel();
        parent.join();
    });
    EXPECT_EQ(canceled.load(), 3);
}

TEST(TaskGroupTest, DeadlineScopeAroundWaitCancelsTheChildren) {
    weft::run([] {
        weft::task_group g;
        g.spawn([] { weft::this_fiber::sleep_for(60s); });
        weft::deadline_scope scope(std::chrono::steady_clock::now() + 10ms);
        try {
            g.wait();
            ADD_FAILURE() << "no timeout";
        } catch (const std::system_error& e) {
            // the child's own cancel error is not what wait() reports
            EXPECT_EQ(e.code(), std::errc::timed_out);
        }
    });
}

TEST(TaskGroupTest, LeavingByExceptionCancelsAndWaits) {
    std::atomic<int> ended{0};
    weft::run([&] {
        try {
            weft::task_group g;
            g.spawn([&] {
                std::error_code ec;
                weft::this_fiber::sleep_for(60s, ec);
                ++ended;
            });
            throw std::logic_error("body failed");
        } catch (const std::logic_error&) {
        }
        EXPECT_EQ(ended.load(), 1);  // the child ended before the group did
    });
}

TEST(TaskGroupTest, ChildrenOnEveryWorkerOfARuntime) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> on[2] = {0, 0};
    std::atomic<int> placed_anywhere{0};
    rt.run([&] {
        weft::task_group g;
        for (int i = 0; i < 200; ++i) {
            g.spawn([&, i] {  // pinned: one half on each worker
                weft::this_fiber::yield();
                if (weft::worker_index() == i % 2) ++on[i % 2];
            }, {.worker = i % 2});
            g.spawn([&] {  // anywhere: stealing decides, all must run
                weft::this_fiber::yield();
                ++placed_anywhere;
            }, {.worker = weft::any_worker});
        }
        g.wait();
    });
    EXPECT_EQ(on[0].load(), 100);
    EXPECT_EQ(on[1].load(), 100);
    EXPECT_EQ(placed_anywhere.load(), 200);
}

// The message of the exception g.wait() throws; "" when it returns.
std::string wait_error(weft::task_group& g) {
    try {
        g.wait();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

// A wait() that rethrew a failure ends that batch: the error and the
// cancellation it caused are gone, and the next spawn/wait cycle reports
// only its own failures.
TEST(TaskGroupTest, ReusableAfterAFailure) {
    weft::run([] {
        weft::task_group g;
        std::error_code sibling;
        g.spawn([] { throw std::runtime_error("first"); });
        g.spawn([&] { weft::this_fiber::sleep_for(60s, sibling); });
        EXPECT_EQ(wait_error(g), "first");
        EXPECT_EQ(sibling, std::errc::operation_canceled);
        EXPECT_EQ(wait_error(g), "");  // nothing new: a second wait() returns

        std::error_code later{std::make_error_code(std::errc::io_error)};
        bool ran = false;
        g.spawn([&] {
            weft::this_fiber::sleep_for(1ms, later);  // not canceled by the old failure
            ran = true;
        });
        EXPECT_EQ(wait_error(g), "");
        EXPECT_TRUE(ran);
        EXPECT_FALSE(later) << later.message();

        g.spawn([] { throw std::runtime_error("second"); });
        EXPECT_EQ(wait_error(g), "second");
        EXPECT_EQ(wait_error(g), "");
    });
}

TEST(TaskGroupTest, ReusableAfterTheWaitTimedOut) {
    weft::run([] {
        weft::task_group g;
        g.spawn([] { weft::this_fiber::sleep_for(60s); });
        {
            weft::deadline_scope scope(std::chrono::steady_clock::now() + 10ms);
            EXPECT_NE(wait_error(g), "");
        }
        std::error_code later{std::make_error_code(std::errc::io_error)};
        g.spawn([&] { weft::this_fiber::sleep_for(1ms, later); });
        EXPECT_EQ(wait_error(g), "");
        EXPECT_FALSE(later) << later.message();
    });
}

TEST(TaskGroupDeathTest, UnobservedFailureOfALaterBatchIsFatal) {
    EXPECT_DEATH(weft::run([] {
                     weft::task_group g;
                     g.spawn([] { throw std::runtime_error("seen"); });
                     EXPECT_THROW(g.wait(), std::runtime_error);
                     g.spawn([] { throw std::runtime_error("unseen"); });
                 }),
                 "task_group destroyed without wait\\(\\) after a child failed: unseen");
}

TEST(TaskGroupDeathTest, UnobservedChildFailureIsFatal) {
    EXPECT_DEATH(weft::run([] {
                     weft::task_group g;
                     g.spawn([] { throw std::runtime_error("lost"); });
                 }),
                 "task_group destroyed without wait\\(\\) after a child failed: lost");
}

TEST(SignalWaitTest, FiberWakesOnTheSignalAndOthersRun) {
    int got = 0;
    int ticks = 0;
    weft::run([&] {
        auto w = weft::spawn([&] { got = weft::signal_wait({SIGUSR1, SIGUSR2}); });
        auto t = weft::spawn([&] {
            for (; ticks < 5; ++ticks) weft::this_fiber::sleep_for(1ms);
            ::kill(::getpid(), SIGUSR2);
        });
        w.join();
        t.join();
    });
    EXPECT_EQ(got, SIGUSR2);
    EXPECT_EQ(ticks, 5);
}

TEST(SignalWaitTest, CancelEndsTheWait) {
    weft::run([] {
        auto w = weft::spawn([] {
            std::error_code ec;
            weft::signal_wait({SIGUSR1}, ec);
            EXPECT_EQ(ec, std::errc::operation_canceled);
        });
        weft::this_fiber::sleep_for(2ms);
        w.cancel();
        w.join();
    });
}

TEST(SignalWaitTest, BadSignalIsInvalidArgument) {
    std::error_code ec;
    weft::signal_wait({SIGKILL}, ec);
    EXPECT_EQ(ec, std::errc::invalid_argument);
    weft::signal_wait({}, ec);
    EXPECT_EQ(ec, std::errc::invalid_argument);
}

TEST(SignalWaitTest, ShutdownPatternWithARuntime) {
    weft::runtime rt{{.workers = 2}};
    // The signal goes to a worker thread, not to this one blocked in run()
    // (ThreadSanitizer delays handlers on a thread blocked in a raw futex).
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    std::atomic<int> finished{0};
    rt.run([&] {
        weft::task_group g;
        for (int i = 0; i < 4; ++i)
            g.spawn([&] {  // in-flight work that ends when asked to stop
                while (!weft::stop_requested()) weft::this_fiber::sleep_for(1ms);
                ++finished;
            }, {.worker = weft::any_worker});
        g.spawn([] {
            weft::this_fiber::sleep_for(10ms);
            ::kill(::getpid(), SIGTERM);
        });
        EXPECT_EQ(weft::signal_wait({SIGINT, SIGTERM}), SIGTERM);
        rt.stop(1s);
        g.wait();
    });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    EXPECT_EQ(finished.load(), 4);
}

}  // namespace
