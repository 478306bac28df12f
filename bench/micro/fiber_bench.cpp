// Scheduler-level costs: yield, spawn+join, and spawning many fibers at once,
// for weft against Boost.Fiber (and std::thread for spawn+join).
//
// Each benchmark sets the counter ops_per_iter; bench/run.sh divides the time
// per iteration by it, so "yield" means one switch from one fiber to the other.
#include <benchmark/benchmark.h>

#include <thread>
#include <vector>

#include "weft/weft.hpp"

#if defined(WEFT_BENCH_HAVE_BOOST)
#include <boost/fiber/all.hpp>
#endif

namespace {

// Google Benchmark's bookkeeping runs on the benchmark loop's fiber; give it
// more room than the default so stack depth is never the question.
const weft::spawn_options bench_fiber{256 * 1024, "bench"};

void set_ops(benchmark::State& state, double ops_per_iter) {
    state.counters["ops_per_iter"] = ops_per_iter;
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ops_per_iter));
}

// ---- yield between two fibers -----------------------------------------------
// One iteration: the loop's fiber yields to the partner, the partner yields back.
void BM_weft_yield(benchmark::State& state) {
    weft::run(
        [&] {
            bool stop = false;
            auto partner = weft::spawn([&] {
                while (!stop) weft::this_fiber::yield();
            });
            for (auto _ : state) weft::this_fiber::yield();
            stop = true;
            partner.join();
        },
        bench_fiber);
    set_ops(state, 2);
}
BENCHMARK(BM_weft_yield);

#if defined(WEFT_BENCH_HAVE_BOOST)
void BM_boost_fiber_yield(benchmark::State& state) {
    bool stop = false;
    boost::fibers::fiber partner([&] {
        while (!stop) boost::this_fiber::yield();
    });
    for (auto _ : state) boost::this_fiber::yield();
    stop = true;
    partner.join();
    set_ops(state, 2);
}
BENCHMARK(BM_boost_fiber_yield);
#endif

// ---- spawn and join one empty fiber -----------------------------------------
void BM_weft_spawn_join(benchmark::State& state) {
    weft::run([&] {
        for (auto _ : state) weft::spawn([] {}).join();
    }, bench_fiber);
    set_ops(state, 1);
}
BENCHMARK(BM_weft_spawn_join);

#if defined(WEFT_BENCH_HAVE_BOOST)
void BM_boost_fiber_spawn_join(benchmark::State& state) {
    for (auto _ : state) boost::fibers::fiber([] {}).join();
    set_ops(state, 1);
}
BENCHMARK(BM_boost_fiber_spawn_join);
#endif

void BM_std_thread_spawn_join(benchmark::State& state) {
    for (auto _ : state) std::thread([] {}).join();
    set_ops(state, 1);
}
BENCHMARK(BM_std_thread_spawn_join)->UseRealTime();

// ---- spawn N, then join them all --------------------------------------------
// Stacks and handles come from pools that one untimed round warms up first, as
// they would in a server that keeps spawning (a single timed iteration would
// otherwise measure only first-touch page faults).
void BM_weft_spawn_many_join_all(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    weft::run([&] {
        std::vector<weft::fiber_handle> fibers;
        fibers.reserve(n);
        for (std::size_t i = 0; i < n; ++i) fibers.push_back(weft::spawn([] {}));
        for (auto& f : fibers) f.join();
        fibers.clear();
        for (auto _ : state) {
            for (std::size_t i = 0; i < n; ++i) fibers.push_back(weft::spawn([] {}));
            for (auto& f : fibers) f.join();
            fibers.clear();
        }
    }, bench_fiber);
    set_ops(state, static_cast<double>(n));
}
BENCHMARK(BM_weft_spawn_many_join_all)->Arg(10'000);

#if defined(WEFT_BENCH_HAVE_BOOST)
void BM_boost_fiber_spawn_many_join_all(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<boost::fibers::fiber> fibers;
    fibers.reserve(n);
    for (std::size_t i = 0; i < n; ++i) fibers.emplace_back([] {});
    for (auto& f : fibers) f.join();
    fibers.clear();
    for (auto _ : state) {
        for (std::size_t i = 0; i < n; ++i) fibers.emplace_back([] {});
        for (auto& f : fibers) f.join();
        fibers.clear();
    }
    set_ops(state, static_cast<double>(n));
}
BENCHMARK(BM_boost_fiber_spawn_many_join_all)->Arg(10'000);
#endif

}  // namespace

BENCHMARK_MAIN();
