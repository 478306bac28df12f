// semaphore, event, wait_group and barrier between fibers (on one or several
// workers) and plain threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "sync_test_support.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using weft_test::note_max;
using weft_test::pause_a_little;
using weft_test::worker_thread;

#if WEFT_ASAN || WEFT_TSAN
constexpr int stress_fibers = 200;
constexpr int barrier_phases = 20;
constexpr int pingpong_rounds = 300;
#else
constexpr int stress_fibers = 1000;
constexpr int barrier_phases = 100;
constexpr int pingpong_rounds = 2000;
#endif

constexpr weft::spawn_options small_stack{.stack_size = 16 * 1024};

// ---- semaphore ----------------------------------------------------------------

TEST(Semaphore, CountsAndTryAcquire) {
    weft::semaphore s(2);
    EXPECT_EQ(s.available(), 2);
    EXPECT_TRUE(s.try_acquire());
    EXPECT_TRUE(s.try_acquire());
    EXPECT_FALSE(s.try_acquire());
    s.release(3);
    EXPECT_EQ(s.available(), 3);
    s.acquire();  // a plain thread, no wait needed
    std::error_code ec = make_error_code(std::errc::io_error);
    s.acquire(ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(s.try_acquire_for(1ms));
    EXPECT_EQ(s.available(), 0);
    s.release(0);
    EXPECT_EQ(s.available(), 0);
}

TEST(Semaphore, HandsUnitsToWaitersInArrivalOrder) {
    weft::semaphore s(0);
    std::vector<int> order;
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 5; ++i)
            hs.push_back(weft::spawn([&, i] {
                s.acquire();
                order.push_back(i);
            }));
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();  // all five queue up in order
        s.release();
        EXPECT_FALSE(s.try_acquire());  // the unit went straight to the first waiter
        auto late = weft::spawn([&] {
            s.acquire();  // queues behind the four still waiting
            order.push_back(99);
        });
        weft::this_fiber::yield();
        s.release(3);
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
        EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
        s.release(2);
        for (auto& h : hs) h.join();
        late.join();
    });
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 99}));
    EXPECT_EQ(s.available(), 0);
}

TEST(Semaphore, AThousandFibersThroughThreeSlots) {
    weft::semaphore s(3);
    std::atomic<int> inside{0}, peak_holders{0};
    std::atomic<long> passes{0};
    auto body = [&] {
        s.acquire();
        note_max(peak_holders, ++inside);
        pause_a_little();
        --inside;
        ++passes;
        s.release();
    };
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < stress_fibers; ++i) hs.push_back(weft::spawn(body, small_stack));
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(passes.load(), stress_fibers);
    EXPECT_LE(peak_holders.load(), 3);
    EXPECT_EQ(peak_holders.load(), 3);  // fibers yield inside, so the slots fill up
    EXPECT_EQ(s.available(), 3);
}

TEST(Semaphore, SharedByWorkersAndAPlainThread) {
    weft::semaphore s(3);
    std::atomic<int> inside{0}, peak_holders{0};
    std::atomic<long> passes{0};
    constexpr int per_worker = stress_fibers / 4;
    auto body = [&] {
        for (int k = 0; k < 4; ++k) {
            s.acquire();
            note_max(peak_holders, ++inside);
            pause_a_little();
            --inside;
            ++passes;
            s.release();
        }
    };
    auto fibers = [&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < per_worker; ++i) hs.push_back(weft::spawn(body, small_stack));
        for (auto& h : hs) h.join();
    };
    std::thread plain([&] {
        for (int i = 0; i < per_worker; ++i) body();
    });
    std::thread w2 = worker_thread(fibers);
    weft::run(fibers);
    w2.join();
    plain.join();
    EXPECT_EQ(passes.load(), 3L * per_worker * 4);
    EXPECT_LE(peak_holders.load(), 3);
    EXPECT_EQ(s.available(), 3);
}

TEST(Semaphore, TimeoutsDeadlinesAndCancel) {
    weft::semaphore s(0);
    weft::run([&] {
        const auto t0 = steady::now();
        EXPECT_FALSE(s.try_acquire_for(30ms));
        EXPECT_GE(steady::now() - t0, 30ms);
        EXPECT_FALSE(s.try_acquire_until(steady::now() - 1s));  // already passed
        EXPECT_FALSE(s.try_acquire_until(std::chrono::system_clock::now() + 5ms));
        s.release();
        EXPECT_TRUE(s.try_acquire_until(steady::now() - 1s));  // passed, but a unit is there

        auto scoped = weft::spawn([&] {
            weft::deadline_scope scope{20ms};
            const auto t1 = steady::now();
            std::error_code ec;
            s.acquire(ec);
            EXPECT_EQ(ec, std::errc::timed_out);
            EXPECT_GE(steady::now() - t1, 20ms);
            try {
                s.acquire();  // the scope has passed
                ADD_FAILURE() << "acquire() returned";
            } catch (const std::system_error& e) {
                EXPECT_EQ(e.code(), std::errc::timed_out);
            }
            EXPECT_FALSE(s.try_acquire_for(10s));  // the scope is earlier
        });
        scoped.join();

        std::error_code ec;
        auto c = weft::spawn([&] { s.acquire(ec); });
        auto c2 = weft::spawn([&] { EXPECT_FALSE(s.try_acquire_for(10s)); });
        weft::this_fiber::yield();
        c.cancel();
        c2.cancel();
        c.join();
        c2.join();
        EXPECT_EQ(ec, std::errc::operation_canceled);

        auto pre = weft::spawn([&] {
            weft::this_fiber::yield();  // canceled by now
            try {
                s.acquire();
                ADD_FAILURE() << "acquire() returned";
            } catch (const std::system_error& e) {
                EXPECT_EQ(e.code(), std::errc::operation_canceled);
            }
        });
        pre.cancel();
        pre.join();

        // The waiters that gave up left no trace: the next unit is for us.
        s.release();
        EXPECT_TRUE(s.try_acquire());
    });
    // A plain thread times out too.
    const auto t0 = steady::now();
    EXPECT_FALSE(s.try_acquire_for(20ms));
    EXPECT_GE(steady::now() - t0, 20ms);
}

TEST(Semaphore, PlainThreadAndFiberHandOff) {
    weft::semaphore to_thread(0), to_fiber(0);
    std::atomic<int> got{0};
    std::thread t([&] {
        for (int i = 0; i < pingpong_rounds; ++i) {
            to_thread.acquire();
            ++got;
            to_fiber.release();
        }
    });
    weft::run([&] {
        for (int i = 0; i < pingpong_rounds; ++i) {
            to_thread.release();
            to_fiber.acquire();
        }
    });
    t.join();
    EXPECT_EQ(got.load(), pingpong_rounds);
}

// ---- event --------------------------------------------------------------------

TEST(Event, ManualResetReleasesEveryWaiterAndStaysSet) {
    weft::event ev;
    EXPECT_FALSE(ev.is_set());
    int woken = 0;
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 20; ++i)
            hs.push_back(weft::spawn([&] {
                ev.wait();
                ++woken;
            }));
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
        EXPECT_EQ(woken, 0);
        ev.set();
        for (auto& h : hs) h.join();
        EXPECT_EQ(woken, 20);
        EXPECT_TRUE(ev.is_set());
        ev.wait();  // stays set
        EXPECT_TRUE(ev.wait_for(1ms));
        ev.reset();
        EXPECT_FALSE(ev.is_set());
        EXPECT_FALSE(ev.wait_for(5ms));
    });
    weft::event pre_set(weft::event::manual_reset, true);
    EXPECT_TRUE(pre_set.wait_for(0ms));
}

TEST(Event, AutoResetReleasesOneWaiterPerSetInOrder) {
    weft::event ev(weft::event::auto_reset);
    std::vector<int> order;
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 5; ++i)
            hs.push_back(weft::spawn([&, i] {
                ev.wait();
                order.push_back(i);
            }));
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
        ev.set();
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
        EXPECT_EQ(order, (std::vector<int>{0}));
        EXPECT_FALSE(ev.is_set());  // consumed by the waiter it released
        for (int i = 0; i < 4; ++i) ev.set();
        for (auto& h : hs) h.join();
        EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));

        ev.set();  // nobody waits: it stays set for the next wait, which clears it
        EXPECT_TRUE(ev.is_set());
        ev.set();  // no count: still one
        EXPECT_TRUE(ev.wait_for(1ms));
        EXPECT_FALSE(ev.is_set());
        EXPECT_FALSE(ev.wait_for(5ms));
    });
}

TEST(Event, TimeoutsDeadlinesAndCancel) {
    weft::event ev;
    weft::run([&] {
        const auto t0 = steady::now();
        EXPECT_FALSE(ev.wait_for(30ms));
        EXPECT_GE(steady::now() - t0, 30ms);
        EXPECT_FALSE(ev.wait_until(steady::now() - 1s));

        auto scoped = weft::spawn([&] {
            weft::deadline_scope scope{20ms};
            const auto t1 = steady::now();
            std::error_code ec;
            ev.wait(ec);
            EXPECT_EQ(ec, std::errc::timed_out);
            EXPECT_GE(steady::now() - t1, 20ms);
            EXPECT_THROW(ev.wait(), std::system_error);
        });
        scoped.join();

        std::error_code ec;
        auto c = weft::spawn([&] { ev.wait(ec); });
        weft::this_fiber::yield();
        c.cancel();
        c.join();
        EXPECT_EQ(ec, std::errc::operation_canceled);

        ev.set();
        EXPECT_TRUE(ev.wait_until(steady::now() - 1s));  // passed, but set
        auto scoped_set = weft::spawn([&] {
            weft::this_fiber::sleep_for(1ms);
            weft::deadline_scope scope{steady::now() - 1s};
            ev.wait();  // already set: no error even though the scope has passed
        });
        scoped_set.join();
    });
}

TEST(Event, FiberAndPlainThreadWakeEachOther) {
    weft::event ping(weft::event::auto_reset), pong(weft::event::auto_reset);
    int rounds_seen = 0;
    std::thread t([&] {
        for (int i = 0; i < pingpong_rounds; ++i) {
            ping.wait();
            pong.set();
        }
    });
    weft::run([&] {
        for (int i = 0; i < pingpong_rounds; ++i) {
            ping.set();
            EXPECT_TRUE(pong.wait_for(20s));
            ++rounds_seen;
        }
    });
    t.join();
    EXPECT_EQ(rounds_seen, pingpong_rounds);

    // A plain thread waits with a timeout.
    weft::event never;
    const auto t0 = steady::now();
    EXPECT_FALSE(never.wait_for(20ms));
    EXPECT_GE(steady::now() - t0, 20ms);
}

TEST(Event, CanBeDestroyedAsSoonAsTheWaitReturns) {
    // The setter may still be inside set() when the waiter returns; the event
    // is freed at once (ASan would see a touch after that).
    constexpr int n = 200;
    for (int i = 0; i < n; ++i) {
        auto ev = std::make_unique<weft::event>();
        std::thread t([e = ev.get()] { e->set(); });
        if (i % 2) {
            ev->wait();
        } else {
            weft::run([&] { ev->wait(); });
        }
        ev.reset();
        t.join();
    }
}

// ---- wait_group ---------------------------------------------------------------

TEST(WaitGroup, WaitsForAThousandFibers) {
    weft::wait_group wg;
    std::atomic<int> finished{0};
    bool thread_saw_all = false;
    weft::run([&] {
        wg.add(stress_fibers);
        for (int i = 0; i < stress_fibers; ++i)
            weft::spawn([&, i] {
                if (i % 3 == 0) weft::this_fiber::sleep_for(1ms);
                else weft::this_fiber::yield();
                ++finished;
                wg.done();
            }, small_stack).detach();
        std::thread watcher([&] {
            wg.wait();
            thread_saw_all = finished.load() == stress_fibers;
        });
        auto second = weft::spawn([&] {
            wg.wait();
            EXPECT_EQ(finished.load(), stress_fibers);
        });
        wg.wait();
        EXPECT_EQ(finished.load(), stress_fibers);
        EXPECT_EQ(wg.count(), 0);
        second.join();
        watcher.join();
    });
    EXPECT_TRUE(thread_saw_all);
}

TEST(WaitGroup, ZeroIsImmediateAndItIsReusable) {
    weft::wait_group wg;
    wg.wait();  // plain thread, counter zero
    EXPECT_TRUE(wg.wait_for(0ms));
    weft::run([&] {
        for (int round = 0; round < 3; ++round) {
            int done = 0;
            wg.add(2);
            wg.add(1);
            for (int i = 0; i < 3; ++i)
                weft::spawn([&] {
                    weft::this_fiber::yield();
                    ++done;
                    wg.done();
                }).detach();
            wg.wait();
            EXPECT_EQ(done, 3);
        }
        wg.add(2);
        wg.add(-2);  // negative deltas are fine while the counter stays >= 0
        EXPECT_TRUE(wg.wait_for(0ms));
    });
}

TEST(WaitGroup, DoneFromOtherWorkersAndAPlainThread) {
    weft::wait_group wg;
    constexpr int per = stress_fibers / 4;
    wg.add(3 * per);
    std::thread plain([&] {
        for (int i = 0; i < per; ++i) wg.done();
    });
    std::thread w2 = worker_thread([&] {
        for (int i = 0; i < per; ++i)
            weft::spawn([&] {
                weft::this_fiber::yield();
                wg.done();
            }, small_stack).detach();
    });
    weft::run([&] {
        for (int i = 0; i < per; ++i)
            weft::spawn([&] { wg.done(); }, small_stack).detach();
        EXPECT_TRUE(wg.wait_for(20s));
        EXPECT_EQ(wg.count(), 0);
    });
    plain.join();
    w2.join();
}

TEST(WaitGroup, TimeoutsDeadlinesAndCancel) {
    weft::wait_group wg;
    wg.add();
    weft::run([&] {
        const auto t0 = steady::now();
        EXPECT_FALSE(wg.wait_for(30ms));
        EXPECT_GE(steady::now() - t0, 30ms);
        EXPECT_FALSE(wg.wait_until(steady::now() - 1s));

        auto scoped = weft::spawn([&] {
            weft::deadline_scope scope{20ms};
            std::error_code ec;
            wg.wait(ec);
            EXPECT_EQ(ec, std::errc::timed_out);
            try {
                wg.wait();
                ADD_FAILURE() << "wait() returned";
            } catch (const std::system_error& e) {
                EXPECT_EQ(e.code(), std::errc::timed_out);
            }
        });
        scoped.join();

        std::error_code ec;
        auto c = weft::spawn([&] { wg.wait(ec); });
        auto c2 = weft::spawn([&] { EXPECT_FALSE(wg.wait_for(10s)); });
        weft::this_fiber::yield();
        c.cancel();
        c2.cancel();
        c.join();
        c2.join();
        EXPECT_EQ(ec, std::errc::operation_canceled);
        wg.done();
        EXPECT_TRUE(wg.wait_until(steady::now() - 1s));
    });
}

TEST(WaitGroupDeathTest, NegativeCounterIsFatal) {
    EXPECT_DEATH(
        {
            weft::wait_group wg;
            wg.add(1);
            wg.done();
            wg.done();
        },
        "wait_group counter went negative");
}

// ---- barrier ------------------------------------------------------------------

TEST(Barrier, TenPartiesAHundredPhasesOnWorkersAndAThread) {
    constexpr int parties = 10;
    weft::barrier b(parties);
    EXPECT_EQ(b.parties(), static_cast<std::size_t>(parties));
    std::vector<std::atomic<int>> arrived(barrier_phases), serial(barrier_phases);
    std::atomic<int> too_early{0};
    auto party = [&] {
        for (int p = 0; p < barrier_phases; ++p) {
            ++arrived[p];
            if (b.arrive_and_wait()) ++serial[p];
            if (arrived[p].load() != parties) ++too_early;  // someone left before all came
            if (p % 7 == 0) pause_a_little();
        }
    };
    std::thread plain(party);  // 1 party
    std::thread w2 = worker_thread([&] {  // 2 parties
        auto a = weft::spawn(party);
        auto c = weft::spawn(party);
        a.join();
        c.join();
    });
    weft::run([&] {  // 7 parties
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < parties - 3; ++i) hs.push_back(weft::spawn(party));
        for (auto& h : hs) h.join();
    });
    w2.join();
    plain.join();
    EXPECT_EQ(too_early.load(), 0);
    for (int p = 0; p < barrier_phases; ++p) {
        EXPECT_EQ(arrived[p].load(), parties) << "phase " << p;
        EXPECT_EQ(serial[p].load(), 1) << "phase " << p;
    }
}

TEST(Barrier, OnePartyIsAlwaysSerial) {
    weft::barrier b(1);
    EXPECT_TRUE(b.arrive_and_wait());
    EXPECT_TRUE(b.arrive_and_wait());
}

TEST(Barrier, WaitIgnoresCancelAndDeadlineScopes) {
    weft::barrier b(3);
    std::atomic<bool> last_arrived{false};
    int left_early = 0;
    weft::run([&] {
        auto scoped = weft::spawn([&] {
            weft::deadline_scope scope{5ms};
            b.arrive_and_wait();
            if (!last_arrived) ++left_early;
        });
        auto canceled = weft::spawn([&] {
            b.arrive_and_wait();
            if (!last_arrived) ++left_early;
        });
        weft::this_fiber::yield();
        canceled.cancel();
        weft::this_fiber::sleep_for(30ms);
        last_arrived = true;
        EXPECT_TRUE(b.arrive_and_wait());
        scoped.join();
        canceled.join();
    });
    EXPECT_EQ(left_early, 0);
}

}  // namespace
