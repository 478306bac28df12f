// Legacy locks under weft::hook: std::mutex, std::recursive_mutex,
// std::timed_mutex, std::condition_variable, std::shared_mutex and sem_t
// park the fiber, not the worker, when contended; ownership is per fiber;
// plain threads and fibers share one lock.
#include <gtest/gtest.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;

struct socket_pair {
    int fd[2] = {-1, -1};
    socket_pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0); }
    ~socket_pair() {
        ::close(fd[0]);
        ::close(fd[1]);
    }
};

timespec realtime_in(std::chrono::nanoseconds d) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    const auto ns = static_cast<long long>(now.tv_nsec) + d.count();
    return timespec{now.tv_sec + static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

// The case weft::hook could not carry before: a lock held across a blocking
// recv, and a second weft::thread of the same (only) worker waiting for it.
TEST(LegacyLock, MutexHeldAcrossRecvParksOnlyTheWaitingFiber) {
    weft::run([] {
        std::mutex mu;
        socket_pair sp;
        std::vector<int> order;
        weft::thread holder([&] {
            std::lock_guard<std::mutex> g(mu);
            order.push_back(1);
            char c = 0;
            EXPECT_EQ(::recv(sp.fd[0], &c, 1, 0), 1);  // parks with mu held
            order.push_back(3);
        });
        weft::thread waiter([&] {
            std::lock_guard<std::mutex> g(mu);  // used to put the worker's thread to sleep
            order.push_back(4);
        });
        weft::thread sender([&] {
            order.push_back(2);
            EXPECT_EQ(::send(sp.fd[1], "x", 1, 0), 1);
        });
        holder.join();
        waiter.join();
        sender.join();
        EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
    });
}

TEST(LegacyLock, RecursiveMutexIsOwnedPerFiber) {
    weft::run([] {
        std::recursive_mutex rm;
        weft::event held, release;
        std::atomic<int> released{0};
        weft::thread a([&] {
            rm.lock();
            rm.lock();  // recursive: its own fiber
            held.set();
            release.wait();
            released = 1;
            rm.unlock();
            rm.unlock();
        });
        weft::thread b([&] {
            held.wait();
            // Same worker thread, other fiber: glibc alone would grant it.
            EXPECT_FALSE(rm.try_lock());
            release.set();
            rm.lock();  // waits for a's two unlocks
            EXPECT_EQ(released.load(), 1);
            rm.lock();
            rm.unlock();
            rm.unlock();
        });
        a.join();
        b.join();
        EXPECT_TRUE(rm.try_lock());
        rm.unlock();
    });
}

TEST(LegacyLock, ErrorCheckingMutexIsOwnedPerFiber) {
    weft::run([] {
        pthread_mutexattr_t attr;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
        pthread_mutex_t m;
        pthread_mutex_init(&m, &attr);
        pthread_mutexattr_destroy(&attr);
        weft::event held, b_tried;
        std::atomic<bool> a_unlocked{false};
        weft::thread a([&] {
            EXPECT_EQ(pthread_mutex_lock(&m), 0);
            EXPECT_EQ(pthread_mutex_lock(&m), EDEADLK);  // its own: as for a thread
            held.set();
            b_tried.wait();
            a_unlocked = true;
            EXPECT_EQ(pthread_mutex_unlock(&m), 0);
        });
        weft::thread b([&] {
            held.wait();
            EXPECT_EQ(pthread_mutex_unlock(&m), EPERM);  // a's, not b's
            EXPECT_EQ(pthread_mutex_trylock(&m), EBUSY);
            b_tried.set();
            EXPECT_EQ(pthread_mutex_lock(&m), 0);  // waits, not EDEADLK
            EXPECT_TRUE(a_unlocked.load());
            EXPECT_EQ(pthread_mutex_unlock(&m), 0);
        });
        a.join();
        b.join();
        pthread_mutex_destroy(&m);
    });
}

TEST(LegacyLock, TimedMutexTimesOutWhileOtherFibersRun) {
    weft::run([] {
        std::timed_mutex tm;
        weft::event held, release;
        weft::thread a([&] {
            std::lock_guard<std::timed_mutex> g(tm);
            held.set();
            release.wait();
        });
        weft::thread b([&] {
            held.wait();
            EXPECT_FALSE(tm.try_lock_for(5ms));
            EXPECT_FALSE(tm.try_lock_until(std::chrono::system_clock::now() + 5ms));
            // Already past, and taken: ETIMEDOUT at once; a bad timespec: EINVAL.
            pthread_mutex_t* raw = tm.native_handle();
            const timespec past{0, 0};
            EXPECT_EQ(pthread_mutex_timedlock(raw, &past), ETIMEDOUT);
            const timespec bad{0, 2'000'000'000};
            EXPECT_EQ(pthread_mutex_timedlock(raw, &bad), EINVAL);
            release.set();
            EXPECT_TRUE(tm.try_lock_for(1h));  // a lets go
            tm.unlock();
            // Free: taken whatever the timeout says, as glibc does.
            EXPECT_EQ(pthread_mutex_timedlock(raw, &past), 0);
            EXPECT_EQ(pthread_mutex_unlock(raw), 0);
        });
        a.join();
        b.join();
    });
}

// Producers and consumers of one queue under std::mutex and
// std::condition_variable: weft::threads on every worker and plain threads.
void producer_consumer(unsigned workers) {
    constexpr int per_producer = 3000;
    constexpr int fiber_producers = 3, thread_producers = 2, fiber_consumers = 3, thread_consumers = 2;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<int> queue;
    int producers_left = fiber_producers + thread_producers;
    std::atomic<long long> sum{0};
    std::atomic<int> taken{0};
    auto produce = [&](int base) {
        for (int i = 0; i < per_producer; ++i) {
            {
                std::lock_guard<std::mutex> g(mu);
                queue.push_back(base + i);
            }
            cv.notify_one();
        }
        std::lock_guard<std::mutex> g(mu);
        if (--producers_left == 0) cv.notify_all();
    };
    auto consume = [&] {
        std::unique_lock<std::mutex> lk(mu);
        for (;;) {
            cv.wait(lk, [&] { return !queue.empty() || producers_left == 0; });
            if (queue.empty()) return;
            const int v = queue.front();
            queue.pop_front();
            lk.unlock();
            sum += v;
            ++taken;
            lk.lock();
        }
    };
    weft::runtime rt{{.workers = workers}};
    rt.run([&] {
        std::vector<weft::thread> fibers;
        std::vector<std::thread> threads;
        int base = 0;
        for (int i = 0; i < fiber_consumers; ++i) fibers.emplace_back(consume);
        for (int i = 0; i < thread_consumers; ++i) threads.emplace_back(consume);
        for (int i = 0; i < fiber_producers; ++i, base += per_producer) fibers.emplace_back(produce, base);
        for (int i = 0; i < thread_producers; ++i, base += per_producer) threads.emplace_back(produce, base);
        for (auto& f : fibers) f.join();
        for (auto& t : threads) t.join();
    });
    constexpr long long n = per_producer * (fiber_producers + thread_producers);
    EXPECT_EQ(taken.load(), n);
    EXPECT_EQ(sum.load(), n * (n - 1) / 2);
}

TEST(LegacyLock, ConditionVariableAcrossFibersAndThreadsOneWorker) { producer_consumer(1); }
TEST(LegacyLock, ConditionVariableAcrossFibersAndThreadsTwoWorkers) { producer_consumer(2); }

TEST(LegacyLock, ConditionVariableTimeoutsOnEveryClock) {
    weft::run([] {
        std::mutex mu;
        std::condition_variable cv;
        std::atomic<int> ticks{0};
        weft::thread ticker([&] {
            for (int i = 0; i < 3; ++i) {
                ++ticks;
                weft::this_fiber::yield();
            }
        });
        std::unique_lock<std::mutex> lk(mu);
        EXPECT_EQ(cv.wait_for(lk, 5ms), std::cv_status::timeout);  // steady: pthread_cond_clockwait
        EXPECT_EQ(cv.wait_until(lk, std::chrono::system_clock::now() + 5ms), std::cv_status::timeout);
        EXPECT_TRUE(lk.owns_lock());
        ticker.join();
        EXPECT_EQ(ticks.load(), 3);
        // The clock chosen with pthread_condattr_setclock, and bad input.
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_t c;
        pthread_cond_init(&c, &attr);
        pthread_condattr_destroy(&attr);
        timespec now{};
        ::clock_gettime(CLOCK_MONOTONIC, &now);
        EXPECT_EQ(pthread_cond_timedwait(&c, mu.native_handle(), &now), ETIMEDOUT);
        const timespec bad{0, -1};
        EXPECT_EQ(pthread_cond_timedwait(&c, mu.native_handle(), &bad), EINVAL);
        EXPECT_EQ(pthread_cond_clockwait(&c, mu.native_handle(), CLOCK_PROCESS_CPUTIME_ID, &now), EINVAL);
        pthread_cond_destroy(&c);
    });
}

TEST(LegacyLock, ConditionVariableSignalFromAPlainThreadWakesAFiber) {
    weft::run([] {
        std::mutex mu;
        std::condition_variable cv;
        bool ready = false;
        std::thread plain([&] {
            std::lock_guard<std::mutex> g(mu);
            ready = true;
            cv.notify_one();
        });
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return ready; });
        lk.unlock();
        plain.join();
    });
}

TEST(LegacyLock, SharedMutexReadersAndWritersPark) {
    weft::run([] {
        std::shared_mutex sm;
        weft::event held, release;
        std::atomic<int> readers_in{0};
        std::atomic<bool> writer_done{false};
        weft::thread writer([&] {
            std::unique_lock<std::shared_mutex> g(sm);
            EXPECT_FALSE(sm.try_lock_shared());  // its own write lock
            held.set();
            release.wait();
            writer_done = true;
        });
        held.wait();
        std::vector<weft::thread> readers;
        for (int i = 0; i < 3; ++i)
            readers.emplace_back([&] {
                std::shared_lock<std::shared_mutex> g(sm);  // parks behind the writer
                EXPECT_TRUE(writer_done.load());
                ++readers_in;
                weft::this_fiber::yield();  // readers overlap
            });
        std::thread plain_reader([&] {
            std::shared_lock<std::shared_mutex> g(sm);
            EXPECT_TRUE(writer_done.load());
        });
        EXPECT_FALSE(sm.try_lock());
        release.set();
        writer.join();
        for (auto& r : readers) r.join();
        plain_reader.join();
        EXPECT_EQ(readers_in.load(), 3);
        // A second writer fiber waits for a reader fiber that parks.
        weft::event reading, done_reading;
        std::atomic<bool> reader_left{false};
        weft::thread reader([&] {
            std::shared_lock<std::shared_mutex> g(sm);
            reading.set();
            done_reading.wait();
            reader_left = true;
        });
        reading.wait();
        weft::thread second([&] {
            std::unique_lock<std::shared_mutex> g(sm);
            EXPECT_TRUE(reader_left.load());
        });
        done_reading.set();
        reader.join();
        second.join();
        // The timed forms, on a lock held for writing elsewhere.
        pthread_rwlock_t l;
        pthread_rwlock_init(&l, nullptr);
        EXPECT_EQ(pthread_rwlock_wrlock(&l), 0);
        weft::thread timed([&] {
            const timespec past{0, 0};
            EXPECT_EQ(pthread_rwlock_timedrdlock(&l, &past), ETIMEDOUT);
            const timespec soon = realtime_in(5ms);
            EXPECT_EQ(pthread_rwlock_timedwrlock(&l, &soon), ETIMEDOUT);
        });
        timed.join();
        EXPECT_EQ(pthread_rwlock_wrlock(&l), EDEADLK);  // this fiber holds it
        EXPECT_EQ(pthread_rwlock_unlock(&l), 0);
        pthread_rwlock_destroy(&l);
    });
}

TEST(LegacyLock, SemaphoreWaitParksTheFiber) {
    weft::run([] {
        sem_t s;
        ASSERT_EQ(sem_init(&s, 0, 0), 0);
        std::atomic<int> got{0};
        std::vector<weft::thread> waiters;
        for (int i = 0; i < 4; ++i)
            waiters.emplace_back([&] {
                EXPECT_EQ(sem_wait(&s), 0);
                ++got;
            });
        weft::thread poster([&] {
            EXPECT_EQ(sem_post(&s), 0);
            EXPECT_EQ(sem_post(&s), 0);
        });
        poster.join();
        std::thread plain([&] {
            EXPECT_EQ(sem_post(&s), 0);
            EXPECT_EQ(sem_post(&s), 0);
        });
        for (auto& w : waiters) w.join();
        plain.join();
        EXPECT_EQ(got.load(), 4);
        errno = 0;
        const timespec past{0, 0};
        EXPECT_EQ(sem_timedwait(&s, &past), -1);
        EXPECT_EQ(errno, ETIMEDOUT);
        const timespec bad{0, 1'000'000'000};
        EXPECT_EQ(sem_timedwait(&s, &bad), -1);
        EXPECT_EQ(errno, EINVAL);
        EXPECT_EQ(sem_post(&s), 0);
        EXPECT_EQ(sem_timedwait(&s, &bad), 0);  // a count is there: the timeout is not looked at
        timespec soon{};
        ::clock_gettime(CLOCK_MONOTONIC, &soon);
        EXPECT_EQ(sem_clockwait(&s, CLOCK_MONOTONIC, &soon), -1);
        EXPECT_EQ(errno, ETIMEDOUT);
        int v = -1;
        sem_getvalue(&s, &v);
        EXPECT_EQ(v, 0);
        sem_destroy(&s);
    });
}

// Exact counts from fibers on two workers and plain threads on one mutex,
// each holder sometimes parking while it holds it.
TEST(LegacyLock, ManyFibersAndThreadsOnOneMutexCountExactly) {
    constexpr int fibers = 16, threads = 2, rounds = 2000;
    std::mutex mu;
    long long counter = 0;
    weft::runtime rt{{.workers = 2}};
    rt.run([&] {
        std::vector<weft::thread> fs;
        std::vector<std::thread> ts;
        for (int i = 0; i < fibers; ++i)
            fs.emplace_back([&, i] {
                for (int r = 0; r < rounds; ++r) {
                    std::lock_guard<std::mutex> g(mu);
                    ++counter;
                    if ((r + i) % 64 == 0) weft::this_fiber::yield();
                }
            });
        for (int i = 0; i < threads; ++i)
            ts.emplace_back([&] {
                for (int r = 0; r < rounds; ++r) {
                    std::lock_guard<std::mutex> g(mu);
                    ++counter;
                }
            });
        for (auto& f : fs) f.join();
        for (auto& t : ts) t.join();
    });
    EXPECT_EQ(counter, static_cast<long long>(fibers + threads) * rounds);
}

TEST(LegacyLock, PlainThreadsKeepGlibcBehaviour) {
    std::mutex mu;
    std::condition_variable cv;
    int turn = 0;
    constexpr int rounds = 2000;
    auto player = [&](int me) {
        for (int i = 0; i < rounds; ++i) {
            std::unique_lock<std::mutex> lk(mu);
            cv.wait(lk, [&] { return turn % 2 == me; });
            ++turn;
            cv.notify_all();
        }
    };
    std::thread a(player, 0), b(player, 1);
    a.join();
    b.join();
    EXPECT_EQ(turn, 2 * rounds);
    std::recursive_mutex rm;
    rm.lock();
    EXPECT_TRUE(rm.try_lock());
    rm.unlock();
    rm.unlock();
}

}  // namespace
