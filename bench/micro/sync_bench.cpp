// Synchronisation costs: channels, mutex and condition variable, for weft
// against Boost.Fiber (and std::mutex for the uncontended lock).
//
// Each benchmark sets the counter ops_per_iter; bench/run.sh divides the time
// per iteration by it: "ping-pong" ns are per message (or hand-off) one way,
// "mutex" ns are per lock+unlock pair.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "weft/weft.hpp"

#if defined(WEFT_BENCH_HAVE_BOOST)
#include <boost/fiber/all.hpp>
#endif

namespace {

const weft::spawn_options bench_fiber{256 * 1024, "bench"};

void set_ops(benchmark::State& state, double ops_per_iter) {
    state.counters["ops_per_iter"] = ops_per_iter;
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ops_per_iter));
}

// ---- channel ping-pong ------------------------------------------------------
// One iteration: the loop's fiber sends on `ping`, the partner receives and
// sends it back on `pong`, the loop's fiber receives it: two messages.
void weft_channel_ping_pong(benchmark::State& state, std::size_t capacity) {
    weft::run(
        [&] {
            weft::channel<int> ping(capacity), pong(capacity);
            auto partner = weft::spawn([&] {
                while (auto v = ping.recv()) pong.send(*v);
            });
            int i = 0;
            for (auto _ : state) {
                ping.send(i);
                auto v = pong.recv();
                benchmark::DoNotOptimize(v);
                ++i;
            }
            ping.close();
            partner.join();
        },
        bench_fiber);
    set_ops(state, 2);
}

void BM_weft_channel_ping_pong_unbuffered(benchmark::State& state) { weft_channel_ping_pong(state, 0); }
BENCHMARK(BM_weft_channel_ping_pong_unbuffered);
void BM_weft_channel_ping_pong_buffered(benchmark::State& state) { weft_channel_ping_pong(state, 16); }
BENCHMARK(BM_weft_channel_ping_pong_buffered);

#if defined(WEFT_BENCH_HAVE_BOOST)
template <class Channel>
void boost_channel_ping_pong(benchmark::State& state, Channel& ping, Channel& pong) {
    boost::fibers::fiber partner([&] {
        int v = 0;
        while (ping.pop(v) == boost::fibers::channel_op_status::success) pong.push(v);
    });
    int i = 0;
    for (auto _ : state) {
        ping.push(i);
        int v = 0;
        pong.pop(v);
        benchmark::DoNotOptimize(v);
        ++i;
    }
    ping.close();
    partner.join();
    set_ops(state, 2);
}

void BM_boost_fiber_channel_ping_pong_unbuffered(benchmark::State& state) {
    boost::fibers::unbuffered_channel<int> ping, pong;
    boost_channel_ping_pong(state, ping, pong);
}
BENCHMARK(BM_boost_fiber_channel_ping_pong_unbuffered);

void BM_boost_fiber_channel_ping_pong_buffered(benchmark::State& state) {
    boost::fibers::buffered_channel<int> ping(16), pong(16);  // power of two, >= 2
    boost_channel_ping_pong(state, ping, pong);
}
BENCHMARK(BM_boost_fiber_channel_ping_pong_buffered);
#endif

// ---- uncontended mutex ------------------------------------------------------
void BM_weft_mutex_uncontended(benchmark::State& state) {
    weft::run(
        [&] {
            weft::mutex m;
            int counter = 0;
            for (auto _ : state) {
                m.lock();
                ++counter;
                benchmark::ClobberMemory();
                m.unlock();
            }
            benchmark::DoNotOptimize(counter);
        },
        bench_fiber);
    set_ops(state, 1);
}
BENCHMARK(BM_weft_mutex_uncontended);

void BM_std_mutex_uncontended(benchmark::State& state) {
    std::mutex m;
    int counter = 0;
    for (auto _ : state) {
        m.lock();
        ++counter;
        benchmark::ClobberMemory();
        m.unlock();
    }
    benchmark::DoNotOptimize(counter);
    set_ops(state, 1);
}
BENCHMARK(BM_std_mutex_uncontended);

// ---- mutex among 100 fibers -------------------------------------------------
// 100 fibers each loop on lock, ++counter, yield, unlock: the holder yields
// inside the critical section, so the others find the lock taken and queue
// on it. The loop's fiber only yields, so that a mutex that lets a running
// fiber barge in (Boost.Fiber's) cannot starve the timing loop; the ops per
// iteration are the lock+unlock pairs the 100 fibers did while timed.
constexpr int contended_fibers = 100;

void BM_weft_mutex_contended(benchmark::State& state) {
    std::uint64_t pairs = 0;
    weft::run(
        [&] {
            weft::mutex m;
            std::uint64_t counter = 0;
            bool stop = false;
            std::vector<weft::fiber_handle> workers;
            for (int i = 0; i < contended_fibers; ++i) {
                workers.push_back(weft::spawn([&] {
                    while (!stop) {
                        m.lock();
                        ++counter;
                        weft::this_fiber::yield();
                        m.unlock();
                    }
                }));
            }
            weft::this_fiber::yield();  // let every worker start
            std::uint64_t start = 0;
            bool first = true;
            for (auto _ : state) {
                if (first) {
                    start = counter;
                    first = false;
                }
                weft::this_fiber::yield();
            }
            pairs = counter - start;
            stop = true;
            for (auto& w : workers) w.join();
        },
        bench_fiber);
    set_ops(state, static_cast<double>(pairs) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_weft_mutex_contended);

#if defined(WEFT_BENCH_HAVE_BOOST)
void BM_boost_fiber_mutex_contended(benchmark::State& state) {
    boost::fibers::mutex m;
    std::uint64_t counter = 0;
    bool stop = false;
    std::vector<boost::fibers::fiber> workers;
    for (int i = 0; i < contended_fibers; ++i) {
        workers.emplace_back([&] {
            while (!stop) {
                m.lock();
                ++counter;
                boost::this_fiber::yield();
                m.unlock();
            }
        });
    }
    boost::this_fiber::yield();
    std::uint64_t start = 0;
    bool first = true;
    for (auto _ : state) {
        if (first) {
            start = counter;
            first = false;
        }
        boost::this_fiber::yield();
    }
    const std::uint64_t pairs = counter - start;
    stop = true;
    for (auto& w : workers) w.join();
    set_ops(state, static_cast<double>(pairs) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_boost_fiber_mutex_contended);
#endif

// ---- condition variable ping-pong -------------------------------------------
// One iteration: the loop's fiber hands the turn to the partner and waits for
// it back: two hand-offs.
void BM_weft_cv_ping_pong(benchmark::State& state) {
    weft::run(
        [&] {
            weft::mutex m;
            weft::condition_variable cv;
            int turn = 0;
            bool stop = false;
            auto partner = weft::spawn([&] {
                std::unique_lock lk(m);
                for (;;) {
                    cv.wait(lk, [&] { return turn == 1 || stop; });
                    if (stop) return;
                    turn = 0;
                    cv.notify_one();
                }
            });
            for (auto _ : state) {
                std::unique_lock lk(m);
                turn = 1;
                cv.notify_one();
                cv.wait(lk, [&] { return turn == 0; });
            }
            {
                std::unique_lock lk(m);
                stop = true;
                cv.notify_one();
            }
            partner.join();
        },
        bench_fiber);
    set_ops(state, 2);
}
BENCHMARK(BM_weft_cv_ping_pong);

#if defined(WEFT_BENCH_HAVE_BOOST)
void BM_boost_fiber_cv_ping_pong(benchmark::State& state) {
    boost::fibers::mutex m;
    boost::fibers::condition_variable cv;
    int turn = 0;
    bool stop = false;
    boost::fibers::fiber partner([&] {
        std::unique_lock lk(m);
        for (;;) {
            cv.wait(lk, [&] { return turn == 1 || stop; });
            if (stop) return;
            turn = 0;
            cv.notify_one();
        }
    });
    for (auto _ : state) {
        std::unique_lock lk(m);
        turn = 1;
        cv.notify_one();
        cv.wait(lk, [&] { return turn == 0; });
    }
    {
        std::unique_lock lk(m);
        stop = true;
        cv.notify_one();
    }
    partner.join();
    set_ops(state, 2);
}
BENCHMARK(BM_boost_fiber_cv_ping_pong);
#endif

// ---- uncontended mutex, the process has a second thread ----------------------
// While the process has one thread, weft::mutex and glibc's std::mutex both
// skip locked instructions. These run last: a process never becomes
// single-threaded again once it started a thread (glibc), so every benchmark
// after them would run the multi-threaded paths.
class idle_thread {
public:
    idle_thread() : t_([this] { done_.wait(false); }) {}
    ~idle_thread() {
        done_ = true;
        done_.notify_one();
        t_.join();
    }

private:
    std::atomic<bool> done_{false};
    std::thread t_;
};

void BM_weft_mutex_uncontended_threaded(benchmark::State& state) {
    idle_thread other;
    weft::run(
        [&] {
            weft::mutex m;
            int counter = 0;
            for (auto _ : state) {
                m.lock();
                ++counter;
                benchmark::ClobberMemory();
                m.unlock();
            }
            benchmark::DoNotOptimize(counter);
        },
        bench_fiber);
    set_ops(state, 1);
}
BENCHMARK(BM_weft_mutex_uncontended_threaded);

void BM_std_mutex_uncontended_threaded(benchmark::State& state) {
    idle_thread other;
    std::mutex m;
    int counter = 0;
    for (auto _ : state) {
        m.lock();
        ++counter;
        benchmark::ClobberMemory();
        m.unlock();
    }
    benchmark::DoNotOptimize(counter);
    set_ops(state, 1);
}
BENCHMARK(BM_std_mutex_uncontended_threaded);

}  // namespace

BENCHMARK_MAIN();
