// Multi-worker scaling of weft::runtime on CPU-bound fiber work (spawn, yield,
// channel pipeline) for 1..N workers, and cross-worker channel ping-pong against
// Boost.Fiber's work_stealing and shared_work schedulers on two threads.
//
// Every benchmark reports items/s and sets the counter ops_per_iter (items per
// iteration); bench/run.sh and bench/run-scaling.sh read them. Worker counts
// are the benchmark argument: BM_weft_rt_spawn/2 ran with 2 workers.
// Usage: runtime_bench [--max-workers N] [--idle-spin-us N] [Google Benchmark flags]
//   --max-workers N: scaling benchmarks for 1..N workers (default 2).
//   --idle-spin-us N: runtime_options::idle_spin for every runtime (default: weft's).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "weft/weft.hpp"

#if defined(WEFT_BENCH_HAVE_BOOST)
#include <boost/fiber/algo/shared_work.hpp>
#include <boost/fiber/algo/work_stealing.hpp>
#include <boost/fiber/all.hpp>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#endif

namespace {

const weft::spawn_options bench_fiber{256 * 1024, "bench"};

weft::runtime_options rt_options{};  // --idle-spin-us sets idle_spin

weft::runtime_options with_workers(int workers) {
    weft::runtime_options o = rt_options;
    o.workers = static_cast<unsigned>(workers);
    return o;
}

// A fixed amount of CPU work that the compiler cannot drop or fold: a chain
// of xorshift steps, each depending on the last (about 1 ns a step).
std::uint64_t burn(std::uint64_t x, int steps) {
    for (int i = 0; i < steps; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    benchmark::DoNotOptimize(x);
    return x;
}

void set_items(benchmark::State& state, double items_per_iter) {
    state.counters["ops_per_iter"] = items_per_iter;
    state.SetItemsProcessed(static_cast<std::int64_t>(static_cast<double>(state.iterations()) * items_per_iter));
}

// Workloads are sized by the total work per iteration, the same for every
// worker count, so items/s compare directly.

// ---- spawn throughput ---------------------------------------------------------
// One iteration: one spawner pinned to each worker spawns its share of
// spawn_fibers fibers (placed on its own worker, so an idle worker may take
// some before they start), each burning spawn_work steps, in batches of
// spawn_batch, waiting for each batch to finish; the iteration ends when every
// fiber has finished. Batches keep the stacks in flight under the stack pool's
// high-water mark (256 per worker): a burst of thousands of fibers would be
// trimmed back to the kernel whenever a worker idles, and then pay page faults
// on the next burst, which measures the kernel rather than the scheduler.
constexpr int spawn_fibers = 8192;
constexpr int spawn_batch = 128;
constexpr int spawn_work = 400;

void spawn_round(int workers) {
    weft::wait_group all;
    all.add(workers);
    for (int w = 0; w < workers; ++w) {
        const int share = spawn_fibers / workers + (w < spawn_fibers % workers ? 1 : 0);
        weft::spawn_on(w, [&all, share, w] {
            for (int done = 0; done < share;) {
                const int n = std::min(spawn_batch, share - done);
                weft::wait_group batch;
                batch.add(n);
                for (int i = 0; i < n; ++i, ++done)
                    weft::spawn([&batch, seed = static_cast<std::uint64_t>(w * spawn_fibers + done + 1)] {
                        burn(seed, spawn_work);
                        batch.done();
                    }).detach();
                batch.wait();
            }
            all.done();
        }).detach();
    }
    all.wait();
}

void BM_weft_rt_spawn(benchmark::State& state) {
    const int workers = static_cast<int>(state.range(0));
    weft::runtime rt{with_workers(workers)};
    rt.run(
        [&] {
            spawn_round(workers);  // fills the workers' stack pools: timed rounds reuse stacks
            for (auto _ : state) spawn_round(workers);
        },
        bench_fiber);
    set_items(state, spawn_fibers);
}

// ---- yield-heavy work -----------------------------------------------------------
// One iteration: yield_fibers fibers (more with over 8 workers, so each has
// two at least), spread over the workers in turn and pinned, each doing
// yield_rounds of (burn yield_work steps, yield). Items are burn+yield steps.
constexpr int yield_fibers = 16;
constexpr int yield_rounds = 200;
constexpr int yield_work = 400;

void BM_weft_rt_yield(benchmark::State& state) {
    const int workers = static_cast<int>(state.range(0));
    const int fibers = std::max(yield_fibers, 2 * workers);
    weft::runtime rt{with_workers(workers)};
    rt.run(
        [&] {
            std::vector<weft::fiber_handle> hs;
            hs.reserve(static_cast<std::size_t>(fibers));
            for (auto _ : state) {
                for (int f = 0; f < fibers; ++f)
                    hs.push_back(weft::spawn_on(f % workers, [f] {
                        std::uint64_t x = static_cast<std::uint64_t>(f + 1);
                        for (int r = 0; r < yield_rounds; ++r) {
                            x = burn(x, yield_work);
                            weft::this_fiber::yield();
                        }
                    }));
                for (auto& h : hs) h.join();
                hs.clear();
            }
        },
        bench_fiber);
    set_items(state, static_cast<double>(fibers) * yield_rounds);
}

// ---- channel pipeline -----------------------------------------------------------
// One iteration: pipeline_items values flow through pipeline_stages stages
// (one per worker beyond 4 workers) joined by buffered channels; stage s is
// pinned to worker s % workers, so with two workers every hop crosses
// workers. Each stage burns pipeline_work steps per value. Items are stage
// steps (values x stages), so that runs with more stages compare.
constexpr int pipeline_stages = 4;
constexpr int pipeline_items = 4000;
constexpr int pipeline_work = 400;
constexpr std::size_t pipeline_capacity = 64;

void BM_weft_rt_pipeline(benchmark::State& state) {
    const int workers = static_cast<int>(state.range(0));
    const int stages = std::max(pipeline_stages, workers);
    weft::runtime rt{with_workers(workers)};
    rt.run(
        [&] {
            std::vector<weft::fiber_handle> hs;
            for (auto _ : state) {
                std::deque<weft::channel<std::uint64_t>> links;  // channels do not move
                for (int s = 0; s + 1 < stages; ++s) links.emplace_back(pipeline_capacity);
                hs.push_back(weft::spawn_on(0, [&] {
                    for (int i = 0; i < pipeline_items; ++i)
                        links[0].send(burn(static_cast<std::uint64_t>(i + 1), pipeline_work));
                    links[0].close();
                }));
                for (int s = 1; s < stages; ++s)
                    hs.push_back(weft::spawn_on(s % workers, [&, s] {
                        for (std::uint64_t v : links[s - 1]) {
                            v = burn(v, pipeline_work);
                            if (s + 1 < stages) links[s].send(v);
                            else benchmark::DoNotOptimize(v);
                        }
                        if (s + 1 < stages) links[s].close();
                    }));
                for (auto& h : hs) h.join();
                hs.clear();
            }
        },
        bench_fiber);
    set_items(state, static_cast<double>(pipeline_items) * stages);
}

// ---- code as users write it: default spawn options --------------------------------
// No placement at all: the first fiber spawns everything, and the runtime
// must spread it. natural_yield: natural_fibers fibers, each natural_rounds
// of (burn natural_work steps, yield). natural_pool: natural_producers +
// natural_consumers fibers on one buffered channel(64), natural_items values
// of about 100 ns of work each.
constexpr int natural_fibers = 2000;
constexpr int natural_rounds = 10;
constexpr int natural_work = 400;
constexpr int natural_producers = 8;
constexpr int natural_consumers = 8;
constexpr int natural_items = 40000;
constexpr int natural_item_work = 100;

void natural_yield(benchmark::State& state, int placement) {
    const int workers = static_cast<int>(state.range(0));
    weft::runtime rt{with_workers(workers)};
    rt.run([&] {
        std::vector<weft::fiber_handle> hs;
        hs.reserve(natural_fibers);
        weft::spawn_options opts;
        opts.worker = placement;
        for (auto _ : state) {
            for (int f = 0; f < natural_fibers; ++f)
                hs.push_back(weft::spawn([f] {
                    std::uint64_t x = static_cast<std::uint64_t>(f + 1);
                    for (int r = 0; r < natural_rounds; ++r) {
                        x = burn(x, natural_work);
                        weft::this_fiber::yield();
                    }
                }, opts));
            for (auto& h : hs) h.join();
            hs.clear();
        }
    });
    set_items(state, static_cast<double>(natural_fibers) * natural_rounds);
}

void BM_weft_rt_natural_yield(benchmark::State& state) { natural_yield(state, weft::current_worker); }
// What placement at spawn costs and gains: the same fibers dealt round robin.
void BM_weft_rt_natural_yield_any(benchmark::State& state) { natural_yield(state, weft::any_worker); }

void BM_weft_rt_natural_pool(benchmark::State& state) {
    const int workers = static_cast<int>(state.range(0));
    weft::runtime rt{with_workers(workers)};
    rt.run([&] {
        std::vector<weft::fiber_handle> hs;
        for (auto _ : state) {
            weft::channel<std::uint64_t> ch(64);
            weft::wait_group producing;
            producing.add(natural_producers);
            for (int p = 0; p < natural_producers; ++p)
                hs.push_back(weft::spawn([&, p] {
                    for (int i = p; i < natural_items; i += natural_producers)
                        ch.send(burn(static_cast<std::uint64_t>(i + 1), natural_item_work / 2));
                    producing.done();
                }));
            for (int c = 0; c < natural_consumers; ++c)
                hs.push_back(weft::spawn([&] {
                    for (std::uint64_t v : ch) benchmark::DoNotOptimize(burn(v, natural_item_work / 2));
                }));
            producing.wait();
            ch.close();
            for (auto& h : hs) h.join();
            hs.clear();
        }
    });
    set_items(state, natural_items);
}

// ---- channel ping-pong --------------------------------------------------------
// One iteration is one round trip: the timing fiber sends on `ping`, the
// partner receives and sends it back on `pong`. Items are round trips.
void weft_ping_pong(benchmark::State& state, int partner_worker) {
    weft::runtime rt{with_workers(2)};
    rt.run(
        [&] {
            weft::channel<int> ping(0), pong(0);
            auto partner = weft::spawn_on(partner_worker, [&] {
                while (auto v = ping.recv()) pong.send(*v);
            });
            auto timer = weft::spawn_on(0, [&] {
                int i = 0;
                for (auto _ : state) {
                    ping.send(i);
                    auto v = pong.recv();
                    benchmark::DoNotOptimize(v);
                    ++i;
                }
                ping.close();
            }, bench_fiber);
            timer.join();
            partner.join();
        },
        bench_fiber);
    set_items(state, 1);
}

// The floor of any hand-off between two cores: two threads that spin on one
// atomic word, each writing it in turn; one iteration is one round trip
// (two cache-line transfers, nothing else).
void BM_floor_threads_spin_ping_pong(benchmark::State& state) {
    std::atomic<std::uint64_t> word{0};
    std::atomic<bool> stop{false};
    std::thread partner([&] {
        std::uint64_t seen = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            const std::uint64_t v = word.load(std::memory_order_acquire);
            if (v != seen && (v & 1)) {
                word.store(v + 1, std::memory_order_release);
                seen = v + 1;
            }
        }
    });
    std::uint64_t v = 0;
    for (auto _ : state) {
        word.store(v + 1, std::memory_order_release);
        while (word.load(std::memory_order_acquire) != v + 2) {
        }
        v += 2;
    }
    stop = true;
    partner.join();
    set_items(state, 1);
}

// The floor of any 2-vs-1 scaling here: natural_yield's CPU work (without
// fibers, yields or placement) split over N plain threads. Whatever keeps
// the two vCPUs from running as two whole cores (a shared physical core,
// the host) shows up here too.
void BM_floor_threads_burn(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    for (auto _ : state) {
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; ++t)
            ts.emplace_back([t, threads] {
                for (int f = t; f < natural_fibers; f += threads) {
                    std::uint64_t x = static_cast<std::uint64_t>(f + 1);
                    for (int r = 0; r < natural_rounds; ++r) x = burn(x, natural_work);
                }
            });
        for (auto& th : ts) th.join();
    }
    set_items(state, static_cast<double>(natural_fibers) * natural_rounds);
}

void BM_weft_rt_ping_pong_cross_worker(benchmark::State& state) { weft_ping_pong(state, 1); }
void BM_weft_rt_ping_pong_same_worker(benchmark::State& state) { weft_ping_pong(state, 0); }

#if defined(WEFT_BENCH_HAVE_BOOST)
// Two threads under one Boost.Fiber scheduling algorithm, kept for the whole
// process: work_stealing registers its threads in static state once per
// process and cannot be set up a second time. Thread 0 runs jobs on its main
// fiber; thread 1's main fiber only parks, so that thread runs (or steals)
// the fibers the job makes. Idle threads spin (the algorithms' default).
class boost_pool {
public:
    template <class Algo, class... Args>
    static std::unique_ptr<boost_pool> start(Args... args) {
        auto p = std::unique_ptr<boost_pool>(new boost_pool());
        boost_pool* self = p.get();
        self->threads_.emplace_back([self, args...] {
            boost::fibers::use_scheduling_algorithm<Algo>(args...);
            self->job_loop();
        });
        self->threads_.emplace_back([self, args...] {
            boost::fibers::use_scheduling_algorithm<Algo>(args...);
            std::unique_lock lk(self->fiber_mu_);
            self->fiber_cv_.wait(lk, [self] { return self->fiber_done_; });
        });
        return p;
    }

    ~boost_pool() {
        {
            std::lock_guard lk(mu_);
            done_ = true;
        }
        cv_.notify_all();
        {
            std::unique_lock lk(fiber_mu_);
            fiber_done_ = true;
        }
        fiber_cv_.notify_all();
        for (auto& t : threads_) t.join();
    }

    // Runs job on thread 0's main fiber and waits for it.
    void run(std::function<void()> job) {
        std::unique_lock lk(mu_);
        job_ = std::move(job);
        cv_.notify_all();
        cv_.wait(lk, [this] { return !job_; });
    }

private:
    boost_pool() = default;
    void job_loop() {
        std::unique_lock lk(mu_);
        for (;;) {
            cv_.wait(lk, [this] { return done_ || job_; });
            if (done_) return;
            lk.unlock();
            job_();
            lk.lock();
            job_ = nullptr;
            cv_.notify_all();
        }
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::function<void()> job_;
    bool done_ = false;
    boost::fibers::mutex fiber_mu_;
    boost::fibers::condition_variable fiber_cv_;
    bool fiber_done_ = false;
    std::vector<std::thread> threads_;
};

// One pool at a time: an idle pool's threads spin and would slow whatever
// runs next. work_stealing can be started only once, so its benchmark is the
// last one registered.
std::unique_ptr<boost_pool> boost_current;
int boost_current_kind = -1;
bool work_stealing_used = false;

boost_pool* boost_pool_for(int kind) {
    if (boost_current_kind == kind) return boost_current.get();
    boost_current.reset();
    boost_current_kind = -1;
    if (kind == 0) {
        if (work_stealing_used) return nullptr;
        work_stealing_used = true;
        boost_current = boost_pool::start<boost::fibers::algo::work_stealing>(2u);
    } else {
        boost_current = boost_pool::start<boost::fibers::algo::shared_work>();
    }
    boost_current_kind = kind;
    return boost_current.get();
}

// The timing loop runs on thread 0's main fiber (which Boost.Fiber never
// moves); the partner fiber is made on it and may run on either thread.
void boost_ping_pong(benchmark::State& state, int kind) {
    boost_pool* pool = boost_pool_for(kind);
    if (!pool) {
        state.SkipWithError("work_stealing can be set up once per process");
        return;
    }
    pool->run([&] {
        boost::fibers::unbuffered_channel<int> ping, pong;
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
    });
    set_items(state, 1);
}

void BM_boost_fiber_shared_work_ping_pong(benchmark::State& state) { boost_ping_pong(state, 1); }
void BM_boost_fiber_work_stealing_ping_pong(benchmark::State& state) { boost_ping_pong(state, 0); }
#endif

}  // namespace

int main(int argc, char** argv) {
    int max_workers = 2;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--max-workers") == 0 && i + 1 < argc) {
            max_workers = std::atoi(argv[++i]);
            if (max_workers < 1) {
                std::fprintf(stderr, "runtime_bench: --max-workers needs a positive number\n");
                return 2;
            }
        } else if (std::strcmp(argv[i], "--idle-spin-us") == 0 && i + 1 < argc) {
            rt_options.idle_spin = std::chrono::microseconds(std::atol(argv[++i]));
        } else {
            args.push_back(argv[i]);
        }
    }
    // Real time: the work runs on the runtime's worker threads, not the one
    // that Google Benchmark measures CPU time on.
    for (auto [name, fn] : {std::pair{"BM_weft_rt_spawn", &BM_weft_rt_spawn},
                            std::pair{"BM_weft_rt_yield", &BM_weft_rt_yield},
                            std::pair{"BM_weft_rt_pipeline", &BM_weft_rt_pipeline},
                            std::pair{"BM_weft_rt_natural_yield", &BM_weft_rt_natural_yield},
                            std::pair{"BM_weft_rt_natural_yield_any", &BM_weft_rt_natural_yield_any},
                            std::pair{"BM_weft_rt_natural_pool", &BM_weft_rt_natural_pool}}) {
        auto* b = benchmark::RegisterBenchmark(name, fn)->UseRealTime()->Unit(benchmark::kMicrosecond);
        for (int w = 1; w <= max_workers; ++w) b->Arg(w);
    }
    benchmark::RegisterBenchmark("BM_weft_rt_ping_pong_cross_worker", BM_weft_rt_ping_pong_cross_worker)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_weft_rt_ping_pong_same_worker", BM_weft_rt_ping_pong_same_worker)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_floor_threads_spin_ping_pong", BM_floor_threads_spin_ping_pong)->UseRealTime();
    {
        auto* b = benchmark::RegisterBenchmark("BM_floor_threads_burn", BM_floor_threads_burn)
                      ->UseRealTime()
                      ->Unit(benchmark::kMicrosecond);
        for (int w = 1; w <= max_workers; ++w) b->Arg(w);
    }
#if defined(WEFT_BENCH_HAVE_BOOST)
    benchmark::RegisterBenchmark("BM_boost_fiber_shared_work_ping_pong", BM_boost_fiber_shared_work_ping_pong)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_boost_fiber_work_stealing_ping_pong",
                                 BM_boost_fiber_work_stealing_ping_pong)
        ->UseRealTime();
#endif
    int n = static_cast<int>(args.size());
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
#if defined(WEFT_BENCH_HAVE_BOOST)
    boost_current.reset();
#endif
    return 0;
}
