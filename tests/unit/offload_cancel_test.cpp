// offload under deadlines and cancellation: the caller is released, the job
// abandoned (not run if it had not started, its result discarded if it
// had), and what the function captured lives until it returns.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "weft/weft.hpp"
#include "await_support.hpp"

namespace {

using namespace weft_await;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;


TEST(OffloadCancel, CancelReleasesTheCallerAndTheJobFinishesWithItsState) {
    weft::run([] {
        auto gate = std::make_shared<std::atomic<bool>>(false);
        std::weak_ptr<std::atomic<bool>> watch = gate;
        std::atomic<bool> finished{false}, running{false};
        std::error_code ec;
        auto h = weft::spawn([&, gate = std::move(gate)]() mutable {
            ec = code_of([&] {
                weft::offload([gate = std::move(gate), &finished, &running] {
                    running = true;
                    for (int i = 0; i < 10000 && !*gate; ++i) std::this_thread::sleep_for(1ms);
                    finished = true;
                    return std::make_unique<int>(1);  // discarded on the pool thread
                });
            });
        });
        await([&] { return running.load(); });  // a job canceled before it starts never runs
        ASSERT_TRUE(running.load());
        h.cancel();
        h.join();  // released while the job still runs
        EXPECT_EQ(ec, std::errc::operation_canceled);
        auto g = watch.lock();
        ASSERT_TRUE(g);  // the job holds its captures
        *g = true;
        g.reset();
        await([&] { return watch.expired(); });  // freed once the job returned
        EXPECT_TRUE(finished.load());
        EXPECT_TRUE(watch.expired());
    });
}

TEST(OffloadCancel, ADeadlineAlreadyPassedRunsNothing) {
    weft::run([] {
        std::atomic<bool> ran{false};
        EXPECT_EQ(code_of([&] { weft::offload([&] { ran = true; }, steady::now() - 1s); }), std::errc::timed_out);
        {
            weft::deadline_scope s{steady::now() - 1s};
            EXPECT_EQ(code_of([&] { weft::offload([&] { ran = true; }); }), std::errc::timed_out);
        }
        weft::this_fiber::sleep_for(1ms);
        EXPECT_FALSE(ran.load());
        // A deadline that does not pass changes nothing.
        EXPECT_EQ(weft::offload([] { return 42; }, 1h), 42);
        EXPECT_EQ(weft::offload([] { return 43; }, weft::deadline::none()), 43);
    });
}

TEST(OffloadCancel, ADeadlineWhileRunningAndAQueuedJobIsNeverRun) {
    weft::run([] {
        std::atomic<bool> release{false};
        std::atomic<int> started{0};
        // Occupy the pool's four threads.
        std::vector<weft::fiber_handle> blockers;
        for (int i = 0; i < 4; ++i)
            blockers.push_back(weft::spawn([&] {
                weft::offload([&] {
                    ++started;
                    for (int k = 0; k < 10000 && !release; ++k) std::this_thread::sleep_for(1ms);
                });
            }));
        await([&] { return started.load() == 4; });
        ASSERT_EQ(started.load(), 4);
        std::atomic<bool> probe_ran{false};
        EXPECT_EQ(code_of([&] { weft::offload([&] { probe_ran = true; }, 2ms); }), std::errc::timed_out);
        release = true;
        for (auto& b : blockers) b.join();
        weft::offload([] {});  // the queue is FIFO: the probe's turn has come and gone
        EXPECT_FALSE(probe_ran.load());
    });
}

TEST(OffloadCancel, OutsideAFiberItRunsInlineUnlessAlreadyDue) {
    std::atomic<bool> ran{false};
    EXPECT_EQ(code_of([&] { weft::offload([&] { ran = true; }, steady::now() - 1s); }), std::errc::timed_out);
    EXPECT_FALSE(ran.load());
    EXPECT_EQ(weft::offload([] { return std::this_thread::get_id(); }, 1h), std::this_thread::get_id());
}

TEST(OffloadCancel, OnTwoWorkersCanceledFromAnotherWorker) {
    weft::runtime rt{{.workers = 2}};
    auto release = std::make_shared<std::atomic<bool>>(false);  // shared with the abandoned job
    std::error_code ec;
    rt.run([&] {
        auto h = weft::spawn_on(1, [&] {
            ec = code_of([&] {
                weft::offload([release] {
                    for (int k = 0; k < 10000 && !*release; ++k) std::this_thread::sleep_for(1ms);
                });
            });
        });
        weft::this_fiber::sleep_for(1ms);
        h.cancel();
        h.join();
    });
    *release = true;
    EXPECT_EQ(ec, std::errc::operation_canceled);
}

}  // namespace
