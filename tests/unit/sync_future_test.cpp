// call_once, promise/future and shared_mutex between fibers (on one or
// several workers) and plain threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "sync_test_support.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using weft_test::pause_a_little;
using weft_test::worker_thread;

#if WEFT_ASAN || WEFT_TSAN
constexpr int stress_fibers = 200;
#else
constexpr int stress_fibers = 1000;
#endif

constexpr weft::spawn_options small_stack{.stack_size = 16 * 1024};

// ---- call_once ----------------------------------------------------------------

TEST(CallOnce, RunsOnceWhileRacingCallersPark) {
    weft::once_flag flag;
    std::atomic<int> calls{0};
    std::atomic<bool> ready{false};
    std::atomic<int> saw_unready{0};
    auto init = [&] {
        ++calls;
        if (weft::in_fiber()) weft::this_fiber::sleep_for(20ms);
        else std::this_thread::sleep_for(20ms);
        ready = true;
    };
    auto caller = [&] {
        weft::call_once(flag, init);
        if (!ready) ++saw_unready;
    };
    std::thread plain(caller);
    std::thread w2 = worker_thread([&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 20; ++i) hs.push_back(weft::spawn(caller));
        for (auto& h : hs) h.join();
    });
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 50; ++i) hs.push_back(weft::spawn(caller));
        for (auto& h : hs) h.join();
    });
    w2.join();
    plain.join();
    EXPECT_EQ(calls.load(), 1);
    EXPECT_EQ(saw_unready.load(), 0);
    weft::call_once(flag, [&] { ++calls; });
    EXPECT_EQ(calls.load(), 1);
}

TEST(CallOnce, AnExceptionLeavesTheFlagUnsetForTheNextCaller) {
    weft::once_flag flag;
    int attempts = 0;
    EXPECT_THROW(weft::call_once(flag, [&] {
        ++attempts;
        throw std::runtime_error("first try fails");
    }), std::runtime_error);
    int value = 0;
    weft::call_once(flag, [&](int v, int& out) { ++attempts; out = v; }, 7, std::ref(value));
    EXPECT_EQ(value, 7);
    weft::call_once(flag, [&] { ++attempts; });
    EXPECT_EQ(attempts, 2);
}

TEST(CallOnce, AParkedCallerRetriesAfterAThrow) {
    weft::once_flag flag;
    int attempts = 0, threw = 0, returned = 0;
    weft::run([&] {
        auto body = [&] {
            ++attempts;
            weft::this_fiber::yield();  // the others arrive and park
            if (attempts == 1) throw std::runtime_error("fails once");
        };
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 5; ++i)
            hs.push_back(weft::spawn([&] {
                try {
                    weft::call_once(flag, body);
                    ++returned;
                } catch (const std::runtime_error&) {
                    ++threw;
                }
            }));
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(attempts, 2);
    EXPECT_EQ(threw, 1);
    EXPECT_EQ(returned, 4);
}

// ---- promise / future -----------------------------------------------------------

TEST(Future, ValueSetBeforeOrAfterGet) {
    weft::run([] {
        weft::promise<int> p;
        weft::future<int> f = p.get_future();
        EXPECT_TRUE(f.valid());
        EXPECT_FALSE(f.is_ready());
        p.set_value(1);
        EXPECT_TRUE(f.is_ready());
        EXPECT_EQ(f.get(), 1);
        EXPECT_FALSE(f.valid());

        weft::promise<std::string> q;
        weft::future<std::string> g = q.get_future();
        auto setter = weft::spawn([&] {
            weft::this_fiber::sleep_for(10ms);
            q.set_value("late");
        });
        EXPECT_EQ(g.get(), "late");  // parks until the setter runs
        setter.join();
    });
}

TEST(Future, MoveOnlyValuesVoidAndExceptions) {
    weft::run([] {
        weft::promise<std::unique_ptr<int>> p;
        auto f = p.get_future();
        p.set_value(std::make_unique<int>(5));
        std::unique_ptr<int> v = f.get();
        ASSERT_TRUE(v);
        EXPECT_EQ(*v, 5);

        weft::promise<void> pv;
        weft::future<void> fv = pv.get_future();
        auto s = weft::spawn([&] { pv.set_value(); });
        fv.get();
        s.join();

        weft::promise<int> pe;
        auto fe = pe.get_future();
        pe.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
        EXPECT_THROW(fe.get(), std::runtime_error);
        EXPECT_FALSE(fe.valid());

        weft::promise<void> pve;
        auto fve = pve.get_future();
        pve.set_exception(std::make_exception_ptr(std::logic_error("void boom")));
        EXPECT_THROW(fve.get(), std::logic_error);
    });
}

std::future_errc code_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const std::future_error& e) {
        if (e.code() == std::future_errc::broken_promise) return std::future_errc::broken_promise;
        if (e.code() == std::future_errc::no_state) return std::future_errc::no_state;
        if (e.code() == std::future_errc::promise_already_satisfied)
            return std::future_errc::promise_already_satisfied;
        if (e.code() == std::future_errc::future_already_retrieved)
            return std::future_errc::future_already_retrieved;
    }
    return std::future_errc{};
}

TEST(Future, BrokenPromiseAndMisuse) {
    weft::run([] {
        // Broken while a fiber waits.
        auto p = std::make_unique<weft::promise<int>>();
        weft::future<int> f = p->get_future();
        auto breaker = weft::spawn([&] {
            weft::this_fiber::yield();
            p.reset();
        });
        EXPECT_EQ(code_of([&] { f.get(); }), std::future_errc::broken_promise);
        breaker.join();
        EXPECT_FALSE(f.valid());

        weft::promise<void> pv;
        weft::future<void> fv = pv.get_future();
        { weft::promise<void> gone = std::move(pv); }  // moved-from pv has no state now
        EXPECT_EQ(code_of([&] { fv.get(); }), std::future_errc::broken_promise);
        EXPECT_EQ(code_of([&] { pv.set_value(); }), std::future_errc::no_state);

        weft::promise<int> q;
        weft::future<int> g = q.get_future();
        EXPECT_EQ(code_of([&] { (void)q.get_future(); }), std::future_errc::future_already_retrieved);
        q.set_value(3);
        EXPECT_EQ(code_of([&] { q.set_value(4); }), std::future_errc::promise_already_satisfied);
        EXPECT_EQ(code_of([&] { q.set_exception(std::make_exception_ptr(1)); }),
                  std::future_errc::promise_already_satisfied);
        EXPECT_EQ(g.get(), 3);
        EXPECT_EQ(code_of([&] { g.get(); }), std::future_errc::no_state);  // get() twice
        weft::future<int> empty;
        EXPECT_EQ(code_of([&] { empty.get(); }), std::future_errc::no_state);
        EXPECT_EQ(code_of([&] { (void)empty.wait_for(1ms); }), std::future_errc::no_state);
    });
}

TEST(Future, TimeoutsDeadlinesAndCancel) {
    weft::run([] {
        weft::promise<int> p;
        weft::future<int> f = p.get_future();
        const auto t0 = steady::now();
        EXPECT_FALSE(f.wait_for(30ms));
        EXPECT_GE(steady::now() - t0, 30ms);
        EXPECT_FALSE(f.wait_until(steady::now() - 1s));

        auto scoped = weft::spawn([&] {
            weft::deadline_scope scope{20ms};
            try {
                (void)f.get();
                ADD_FAILURE() << "get() returned";
            } catch (const std::system_error& e) {
                EXPECT_EQ(e.code(), std::errc::timed_out);
            }
            EXPECT_TRUE(f.valid());  // the result is still to come
        });
        scoped.join();

        std::error_code ec;
        auto c = weft::spawn([&] { f.wait(ec); });
        weft::this_fiber::yield();
        c.cancel();
        c.join();
        EXPECT_EQ(ec, std::errc::operation_canceled);

        p.set_value(9);
        EXPECT_TRUE(f.wait_until(steady::now() - 1s));  // passed, but ready
        f.wait(ec);
        EXPECT_FALSE(ec);
        EXPECT_EQ(f.get(), 9);
    });
}

TEST(Future, AcrossPlainThreadsAndWorkers) {
    // A plain thread sets, a fiber gets.
    {
        weft::promise<int> p;
        auto f = p.get_future();
        std::thread t([&] {
            std::this_thread::sleep_for(10ms);
            p.set_value(42);
        });
        weft::run([&] { EXPECT_EQ(f.get(), 42); });
        t.join();
    }
    // A fiber sets, a plain thread gets.
    {
        weft::promise<std::string> p;
        auto f = p.get_future();
        std::thread t([&] { EXPECT_EQ(f.get(), "from a fiber"); });
        weft::run([&] {
            weft::this_fiber::sleep_for(10ms);
            p.set_value("from a fiber");
        });
        t.join();
    }
    // Many pairs between two workers and a plain thread.
    constexpr int n = stress_fibers / 2;
    std::vector<weft::promise<int>> ps(n);
    std::vector<weft::future<int>> fs;
    for (auto& p : ps) fs.push_back(p.get_future());
    std::atomic<long> sum{0};
    std::thread setter([&] {
        for (int i = 0; i < n; ++i) {
            if (i % 2) ps[i].set_value(i);
            else ps[i] = weft::promise<int>();  // breaks it
        }
    });
    std::thread w2 = worker_thread([&] {
        for (int i = 0; i < n; i += 2)
            weft::spawn([&, i] { EXPECT_EQ(code_of([&] { fs[i].get(); }), std::future_errc::broken_promise); },
                        small_stack).detach();
    });
    weft::run([&] {
        for (int i = 1; i < n; i += 2) weft::spawn([&, i] { sum += fs[i].get(); }, small_stack).detach();
    });
    w2.join();
    setter.join();
    long expect = 0;
    for (int i = 1; i < n; i += 2) expect += i;
    EXPECT_EQ(sum.load(), expect);
}

// ---- shared_mutex -------------------------------------------------------------

TEST(SharedMutex, TryLocks) {
    weft::shared_mutex m;
    EXPECT_TRUE(m.try_lock_shared());
    EXPECT_TRUE(m.try_lock_shared());
    EXPECT_FALSE(m.try_lock());
    m.unlock_shared();
    m.unlock_shared();
    EXPECT_TRUE(m.try_lock());
    EXPECT_FALSE(m.try_lock());
    EXPECT_FALSE(m.try_lock_shared());
    m.unlock();
    {
        std::shared_lock<weft::shared_mutex> r(m);
        EXPECT_FALSE(m.try_lock());
    }
    {
        std::unique_lock<weft::shared_mutex> w(m);
        EXPECT_FALSE(m.try_lock_shared());
    }
}

TEST(SharedMutex, AWaitingWriterQueuesNewReaders) {
    weft::shared_mutex m;
    std::vector<std::string> order;
    weft::run([&] {
        m.lock_shared();
        auto writer = weft::spawn([&] {
            std::lock_guard<weft::shared_mutex> g(m);
            order.push_back("w");
        });
        weft::this_fiber::yield();  // the writer waits now
        EXPECT_FALSE(m.try_lock_shared());
        auto reader = weft::spawn([&] {
            std::shared_lock<weft::shared_mutex> g(m);
            order.push_back("r");
        });
        auto writer2 = weft::spawn([&] {
            std::lock_guard<weft::shared_mutex> g(m);
            order.push_back("w2");
        });
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
        EXPECT_TRUE(order.empty());
        m.unlock_shared();
        writer.join();
        reader.join();
        writer2.join();
    });
    // The reader that queued behind the first writer goes before the second writer.
    EXPECT_EQ(order, (std::vector<std::string>{"w", "r", "w2"}));
}

TEST(SharedMutex, ReadersShareAndAWriterIsNotStarved) {
    weft::shared_mutex m;
    int readers_inside = 0, max_readers = 0;
    bool stop = false;
    int writes = 0;
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 8; ++i)
            hs.push_back(weft::spawn([&] {
                // Overlapping readers would keep the lock shared forever
                // without writer preference.
                while (true) {
                    std::shared_lock<weft::shared_mutex> g(m);
                    if (stop) break;
                    max_readers = std::max(max_readers, ++readers_inside);
                    weft::this_fiber::yield();
                    --readers_inside;
                }
            }));
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
        for (int i = 0; i < 5; ++i) {
            std::lock_guard<weft::shared_mutex> g(m);
            EXPECT_EQ(readers_inside, 0);
            ++writes;
        }
        {
            std::lock_guard<weft::shared_mutex> g(m);
            stop = true;
        }
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(writes, 5);
    EXPECT_GT(max_readers, 1);
}

TEST(SharedMutex, WorkersAndAPlainThreadKeepAnInvariant) {
    weft::shared_mutex m;
    long a = 0, b = 0;  // writers keep a == b; plain data, so TSan checks the locking
    std::atomic<int> torn{0};
    constexpr int iters = stress_fibers / 5;
    auto body = [&](int seed) {
        for (int i = 0; i < iters; ++i) {
            if ((i + seed) % 4 == 0) {
                std::lock_guard<weft::shared_mutex> g(m);
                ++a;
                pause_a_little();
                ++b;
            } else {
                std::shared_lock<weft::shared_mutex> g(m);
                if (a != b) ++torn;
                pause_a_little();
                if (a != b) ++torn;
            }
        }
    };
    auto fibers = [&] {
        std::vector<weft::fiber_handle> hs;
        for (int s = 0; s < 4; ++s) hs.push_back(weft::spawn([&, s] { body(s); }, small_stack));
        for (auto& h : hs) h.join();
    };
    std::thread plain([&] { body(1); });
    std::thread w2 = worker_thread(fibers);
    weft::run(fibers);
    w2.join();
    plain.join();
    EXPECT_EQ(torn.load(), 0);
    EXPECT_EQ(a, b);
    auto writes_of = [&](int seed) {
        long w = 0;
        for (int i = 0; i < iters; ++i) w += (i + seed) % 4 == 0;
        return w;
    };
    long writes = writes_of(1);  // the plain thread
    for (int s = 0; s < 4; ++s) writes += 2 * writes_of(s);  // 2 workers × 4 fibers
    EXPECT_EQ(a, writes);
}

}  // namespace
