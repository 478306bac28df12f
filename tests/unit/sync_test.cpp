// mutex, timed_mutex and condition_variable between fibers and plain threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "sync_test_support.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;

TEST(Mutex, ExcludesFibersThatYieldInsideTheCriticalSection) {
#if WEFT_ASAN || WEFT_TSAN
    constexpr int n = 1000;
#else
    constexpr int n = 10000;
#endif
    weft::mutex m;
    long counter = 0;
    int inside = 0, overlaps = 0;
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < n; ++i)
            hs.push_back(weft::spawn([&] {
                std::lock_guard<weft::mutex> g(m);
                if (++inside != 1) ++overlaps;
                weft::this_fiber::yield();  // others run and must queue on the mutex
                ++counter;
                --inside;
            }, {.stack_size = 16 * 1024}));
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(counter, n);
    EXPECT_EQ(overlaps, 0);
}

TEST(Mutex, WaitersGetTheLockInArrivalOrder) {
    weft::mutex m;
    std::vector<int> order;
    weft::run([&] {
        m.lock();
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 5; ++i)
            hs.push_back(weft::spawn([&, i] {
                std::lock_guard<weft::mutex> g(m);
                order.push_back(i);
            }));
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();  // all five queue up in order
        m.unlock();
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(Mutex, TryLock) {
    weft::mutex m;
    EXPECT_TRUE(m.try_lock());
    EXPECT_FALSE(m.try_lock());
    m.unlock();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

TEST(Mutex, FibersAndPlainThreadsShareOne) {
    weft::mutex m;
    long counter = 0;
    constexpr int per = 20000;
    std::thread t([&] {
        for (int i = 0; i < per; ++i) {
            std::lock_guard<weft::mutex> g(m);
            ++counter;
        }
    });
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int f = 0; f < 4; ++f)
            hs.push_back(weft::spawn([&] {
                for (int i = 0; i < per / 4; ++i) {
                    std::lock_guard<weft::mutex> g(m);
                    ++counter;
                    if (i % 64 == 0) weft::this_fiber::yield();
                }
            }));
        for (auto& h : hs) h.join();
    });
    t.join();
    EXPECT_EQ(counter, 2 * per);
}

// unlock() with a queue hands the lock to the longest waiter before that
// waiter runs: the unlocking fiber cannot take it back at once.
TEST(Mutex, UnlockHandsOverSoTheUnlockerCannotBarge) {
    weft::mutex m;
    bool b_had_it = false;
    weft::run([&] {
        m.lock();
        auto b = weft::spawn([&] {
            m.lock();
            b_had_it = true;
            m.unlock();
        });
        weft::this_fiber::yield();  // b queues
        m.unlock();
        EXPECT_FALSE(m.try_lock());  // handed to b, which has not run yet
        EXPECT_FALSE(b_had_it);
        b.join();
        EXPECT_TRUE(b_had_it);
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

// A waiter that gives up leaves the "waited for" mark behind; the next
// unlock must still free the mutex.
TEST(TimedMutex, UnlockAfterEveryWaiterGaveUpFreesIt) {
    weft::timed_mutex m;
    weft::run([&] {
        m.lock();
        auto a = weft::spawn([&] { EXPECT_FALSE(m.try_lock_for(5ms)); });
        auto b = weft::spawn([&] { EXPECT_FALSE(m.try_lock_for(10ms)); });
        a.join();
        b.join();
        m.unlock();
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

// Held by a fiber while the process starts its first other thread (a lone
// thread takes the lock without locked instructions): the new thread must
// see it held and wait for the fiber's unlock.
TEST(Mutex, HeldWhileAThreadStartsAndWaitsForIt) {
    weft::mutex m;
    std::atomic<bool> thread_has_it{false};
    weft::run([&] {
        m.lock();
        std::thread t([&] {
            m.lock();
            thread_has_it = true;
            m.unlock();
        });
        for (int i = 0; i < 20; ++i) weft::this_fiber::sleep_for(1ms);
        EXPECT_FALSE(thread_has_it.load());
        m.unlock();
        t.join();
    });
    EXPECT_TRUE(thread_has_it.load());
}

// Plain threads and fibers on two workers mix lock(), try_lock() and
// try_lock_for(): every increment happens under the lock.
TEST(TimedMutex, ThreadsAndWorkersMixAllLockForms) {
    weft::timed_mutex m;
    long counter = 0;
    const int per = 4000 / weft_test::sanitizer_scale;
    std::atomic<long> done{0};
    auto body = [&](int kind) {
        for (int i = 0; i < per; ++i) {
            // The retry loops are bounded: after enough misses, lock() it.
            if (kind == 0) {
                m.lock();
            } else if (kind == 1) {
                for (int tries = 0; !m.try_lock(); ++tries) {
                    if (tries == 10000) {
                        m.lock();
                        break;
                    }
                    weft_test::pause_a_little();
                }
            } else {
                for (int tries = 0; !m.try_lock_for(50us); ++tries) {
                    if (tries == 1000) {
                        m.lock();
                        break;
                    }
                }
            }
            ++counter;
            if (i % 32 == 0) weft_test::pause_a_little();
            m.unlock();
        }
        ++done;
    };
    std::thread t1([&] { body(0); });
    std::thread t2([&] { body(2); });
    std::thread w2 = weft_test::worker_thread([&] {
        auto a = weft::spawn([&] { body(1); });
        auto b = weft::spawn([&] { body(2); });
        a.join();
        b.join();
    });
    weft::run([&] {
        auto a = weft::spawn([&] { body(0); });
        auto b = weft::spawn([&] { body(1); });
        a.join();
        b.join();
    });
    t1.join();
    t2.join();
    w2.join();
    EXPECT_EQ(done.load(), 6);
    EXPECT_EQ(counter, 6L * per);
}

TEST(TimedMutex, TimesOutAndHonoursCancel) {
    weft::timed_mutex m;
    weft::run([&] {
        m.lock();
        auto t0 = std::chrono::steady_clock::now();
        auto h = weft::spawn([&] {
            EXPECT_FALSE(m.try_lock_for(30ms));
            EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
        });
        h.join();
        auto c = weft::spawn([&] { EXPECT_FALSE(m.try_lock_for(10s)); });
        weft::this_fiber::yield();
        c.cancel();
        c.join();
        auto s = weft::spawn([&] {
            weft::deadline_scope scope{20ms};
            EXPECT_FALSE(m.try_lock_until(std::chrono::steady_clock::now() + 10s));  // the scope is earlier
        });
        s.join();
        m.unlock();
        EXPECT_TRUE(m.try_lock_for(1ms));
        m.unlock();
    });
}

TEST(ConditionVariable, PingPongBetweenFibers) {
    weft::mutex m;
    weft::condition_variable cv;
    int turn = 0;
    constexpr int rounds = 2000;
    weft::run([&] {
        auto player = [&](int me) {
            for (int i = 0; i < rounds; ++i) {
                std::unique_lock<weft::mutex> lk(m);
                cv.wait(lk, [&] { return turn == me; });
                turn = 1 - me;
                cv.notify_one();
            }
        };
        auto a = weft::spawn([&] { player(0); });
        auto b = weft::spawn([&] { player(1); });
        a.join();
        b.join();
    });
    EXPECT_EQ(turn, 0);
}

TEST(ConditionVariable, FiberWaitsForAPlainThread) {
    weft::mutex m;
    weft::condition_variable cv;
    bool ready = false;
    int value = 0;
    weft::run([&] {
        std::thread producer([&] {
            std::this_thread::sleep_for(10ms);
            std::lock_guard<weft::mutex> g(m);
            value = 42;
            ready = true;
            cv.notify_one();
        });
        {
            std::unique_lock<weft::mutex> lk(m);
            EXPECT_TRUE(cv.wait_for(lk, 20s, [&] { return ready; }));
        }
        producer.join();
    });
    EXPECT_EQ(value, 42);
}

TEST(ConditionVariable, PlainThreadWaitsForAFiber) {
    weft::mutex m;
    weft::condition_variable cv;
    bool ready = false;
    std::thread consumer([&] {
        std::unique_lock<weft::mutex> lk(m);
        EXPECT_TRUE(cv.wait_for(lk, 20s, [&] { return ready; }));
    });
    weft::run([&] {
        weft::this_fiber::sleep_for(10ms);
        std::lock_guard<weft::mutex> g(m);
        ready = true;
        cv.notify_all();
    });
    consumer.join();
}

TEST(ConditionVariable, TimeoutsAndNotifyAll) {
    weft::mutex m;
    weft::condition_variable cv;
    weft::run([&] {
        {
            std::unique_lock<weft::mutex> lk(m);
            const auto t0 = std::chrono::steady_clock::now();
            EXPECT_EQ(cv.wait_for(lk, 20ms), std::cv_status::timeout);
            EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
            EXPECT_TRUE(lk.owns_lock());
            EXPECT_FALSE(cv.wait_for(lk, 1ms, [] { return false; }));
        }
        int woken = 0;
        bool go = false;
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 50; ++i)
            hs.push_back(weft::spawn([&] {
                std::unique_lock<weft::mutex> lk(m);
                cv.wait(lk, [&] { return go; });
                ++woken;
            }));
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
        {
            std::lock_guard<weft::mutex> g(m);
            go = true;
        }
        cv.notify_all();
        for (auto& h : hs) h.join();
        EXPECT_EQ(woken, 50);
    });
}

}  // namespace

namespace {

TEST(Mutex, LockIgnoresAnExpiringDeadlineScope) {
    // lock() cannot fail, so an enclosing deadline_scope must not end its wait.
    weft::mutex m;
    int inside = 0, overlaps = 0;
    weft::run([&] {
        m.lock();
        auto h = weft::spawn([&] {
            weft::deadline_scope scope{std::chrono::milliseconds(5)};
            std::lock_guard<weft::mutex> g(m);
            if (++inside != 1) ++overlaps;
            --inside;
        });
        ++inside;
        weft::this_fiber::sleep_for(std::chrono::milliseconds(30));  // the scope expires meanwhile
        --inside;
        m.unlock();
        h.join();
    });
    EXPECT_EQ(overlaps, 0);
}

TEST(ConditionVariable, WaitInAnExpiringScopeTimesOutStillHoldingTheLock) {
    weft::mutex m;
    weft::condition_variable cv;
    weft::run([&] {
        std::unique_lock<weft::mutex> lk(m);
        weft::deadline_scope scope{std::chrono::milliseconds(10)};
        EXPECT_EQ(cv.wait_for(lk, std::chrono::seconds(10)), std::cv_status::timeout);
        EXPECT_TRUE(lk.owns_lock());
    });
}

}  // namespace
