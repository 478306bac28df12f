// The remote queue (sched/worker_remote.cpp) under load: every cross-worker
// wake, cancel, start and free arrives exactly once, including for fibers
// that changed workers while a node of theirs was queued and fibers freed
// on another worker while one was. Counts are exact; nothing depends on timing.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

#include "sched/worker.hpp"
#include "weft/weft.hpp"

namespace {

#ifdef WEFT_STRESS_LARGE
constexpr int hops_per_pair = 1'000'000;
#else
constexpr int hops_per_pair = 50'000;
#endif

// Pairs of fibers on two workers bounce a counter through unbuffered
// channels: every hop is one cross-worker wake-up, and a lost one hangs
// the pair (ctest's timeout), a doubled one breaks the sums.
TEST(RemoteQueue, UnbufferedPingPongAcrossWorkersCountsEveryHop) {
    weft::runtime rt{{.workers = 2}};
    constexpr int pairs = 4;
    std::atomic<std::int64_t> pinged{0}, ponged{0};
    rt.run([&] {
        std::vector<std::unique_ptr<weft::channel<int>>> ping, pong;
        for (int p = 0; p < pairs; ++p) {
            ping.push_back(std::make_unique<weft::channel<int>>(0));
            pong.push_back(std::make_unique<weft::channel<int>>(0));
        }
        std::vector<weft::fiber_handle> hs;
        for (int p = 0; p < pairs; ++p) {
            hs.push_back(weft::spawn_on(1, [&, p] {
                std::int64_t sum = 0;
                while (auto v = ping[p]->recv()) {
                    sum += *v;
                    pong[p]->send(*v + 1);
                }
                ponged += sum;
            }));
            hs.push_back(weft::spawn_on(0, [&, p] {
                std::int64_t sum = 0;
                for (int i = 0; i < hops_per_pair; ++i) {
                    ping[p]->send(i);
                    sum += *pong[p]->recv() - 1;
                }
                ping[p]->close();
                pinged += sum;
            }));
        }
        for (auto& h : hs) h.join();
    });
    const std::int64_t expected = std::int64_t{pairs} * hops_per_pair * (hops_per_pair - 1) / 2;
    EXPECT_EQ(pinged.load(), expected);
    EXPECT_EQ(ponged.load(), expected);
}

// Migratable fibers yield between receives, so idle workers take them while
// wake-ups for them are in flight to their old worker: each wake must follow
// the fiber, never be dropped on the worker it left.
TEST(RemoteQueue, WakesFollowAFiberThatChangedWorkers) {
    weft::runtime rt{{.workers = 2}};
    constexpr int movers = 8;
    constexpr int per_mover = hops_per_pair / 10;
    std::atomic<int> received{0};
    std::atomic<int> moves{0};
    rt.run([&] {
        std::vector<std::unique_ptr<weft::channel<int>>> to;
        for (int m = 0; m < movers; ++m) to.push_back(std::make_unique<weft::channel<int>>(0));
        std::vector<weft::fiber_handle> hs;
        for (int m = 0; m < movers; ++m) {
            hs.push_back(weft::spawn([&, m] {
                int last = weft::worker_index();
                for (int i = 0; i < per_mover; ++i) {
                    if (to[m]->recv()) ++received;
                    weft::this_fiber::yield();
                    if (const int now = weft::worker_index(); now != last) {
                        ++moves;
                        last = now;
                    }
                }
            }, {.migratable = true}));
            // The senders alternate workers, so the movers' wake-ups come from both.
            hs.push_back(weft::spawn_on(m % 2, [&, m] {
                for (int i = 0; i < per_mover; ++i) to[m]->send(i);
            }));
        }
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(received.load(), movers * per_mover);
    RecordProperty("moves", moves.load());
}

// Plain threads cancel fibers of a worker while those fibers finish and are
// joined (and so freed) by a fiber of the other worker: a cancel node may
// still be queued when its fiber is freed.
TEST(RemoteQueue, CancelsFromThreadsRaceWithFreesOnAnotherWorker) {
    weft::runtime rt{{.workers = 2}};
    constexpr int rounds = 200;
    constexpr int per_round = 16;
    std::atomic<int> ended{0}, canceled{0};
    for (int r = 0; r < rounds; ++r) {
        weft::channel<int> gate(per_round);
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < per_round; ++i)
            hs.push_back(rt.spawn([&] {
                std::error_code ec;
                gate.recv(ec);  // a value, or canceled
                if (ec == std::errc::operation_canceled) ++canceled;
                ++ended;
            }, {.worker = 1}));
        std::thread canceler([&] {
            for (int i = 0; i < per_round; i += 2) hs[static_cast<std::size_t>(i)].cancel();
        });
        auto joiner = rt.spawn([&] {
            for (int i = 0; i < per_round; ++i) gate.send(i);
            for (int i = 1; i < per_round; i += 2) hs[static_cast<std::size_t>(i)].join();
        }, {.worker = 0});
        canceler.join();
        joiner.join();
        for (int i = 0; i < per_round; i += 2) hs[static_cast<std::size_t>(i)].join();
    }
    EXPECT_EQ(ended.load(), rounds * per_round);
    EXPECT_LE(canceled.load(), rounds * per_round / 2);
}

// Spawns from plain threads (start nodes), joined from fibers of either
// worker and from the threads themselves (frees on every kind of thread).
TEST(RemoteQueue, SpawnsFromThreadsArriveOnceAndAreFreedAnywhere) {
    weft::runtime rt{{.workers = 2}};
    constexpr int threads = 4;
    constexpr int per_thread = 2'000;
    std::atomic<std::int64_t> sum{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t] {
            std::vector<weft::fiber_handle> batch;
            for (int i = 0; i < per_thread; ++i) {
                batch.push_back(rt.spawn([&, t, i] { sum += t * per_thread + i; }));
                if (batch.size() == 32) {
                    // Half joined here, half by a fiber on some worker.
                    auto joiner = rt.spawn([&batch] {
                        for (std::size_t k = 0; k < batch.size(); k += 2) batch[k].join();
                    });
                    joiner.join();
                    for (std::size_t k = 1; k < batch.size(); k += 2) batch[k].join();
                    batch.clear();
                }
            }
            for (auto& h : batch) h.join();
        });
    for (auto& t : ts) t.join();
    const std::int64_t n = std::int64_t{threads} * per_thread;
    EXPECT_EQ(sum.load(), n * (n - 1) / 2);
}

// The bound on spinning idle workers (Go's rule, plus the cap).
TEST(RemoteQueue, SpinnersStayUnderHalfTheAwakeWorkersAndTheCap) {
    using weft::detail::spin_allowed;
    using weft::detail::spin_cap_for;
    EXPECT_EQ(spin_cap_for(1), 2u);
    EXPECT_EQ(spin_cap_for(2), 2u);
    EXPECT_EQ(spin_cap_for(64), 32u);
    // 2 workers, the other one busy: the first idle one spins; with it
    // spinning, a second idle one spins only to catch replies.
    EXPECT_TRUE(spin_allowed(0, 0, 2, 2, false));
    EXPECT_FALSE(spin_allowed(1, 0, 2, 2, false));
    EXPECT_TRUE(spin_allowed(1, 0, 2, 2, true));
    EXPECT_FALSE(spin_allowed(2, 0, 2, 2, true));
    // 64 workers, 60 asleep: 4 awake, so 2 spinners at most without replies.
    EXPECT_TRUE(spin_allowed(1, 60, 64, 32, false));
    EXPECT_FALSE(spin_allowed(2, 60, 64, 32, false));
    EXPECT_TRUE(spin_allowed(2, 60, 64, 32, true));
    EXPECT_FALSE(spin_allowed(32, 0, 64, 32, true));
    // Counts read racily may say more sleep than exist: no wrap-around.
    EXPECT_FALSE(spin_allowed(0, 5, 4, 2, false));
}

// A runtime with more workers than the machine has CPUs and almost nothing
// to do: the bounded spinners still hand every wake-up on.
TEST(RemoteQueue, ManyIdleWorkersPassEveryWakeUp) {
    weft::runtime rt{{.workers = 8}};
    constexpr int hops = 2'000;
    std::atomic<int> got{0};
    rt.run([&] {
        weft::channel<int> a(0), b(0);
        auto far = weft::spawn_on(7, [&] {
            while (auto v = a.recv()) b.send(*v);
        });
        for (int i = 0; i < hops; ++i) {
            a.send(i);
            if (b.recv() == i) ++got;
        }
        a.close();
        far.join();
    });
    EXPECT_EQ(got.load(), hops);
}

}  // namespace
