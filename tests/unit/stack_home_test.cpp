// Stacks go home: a fiber that ends on another worker than the one whose pool
// its stack came from gives the stack back to that pool, so a spawner keeps
// reusing its stacks instead of mapping new ones.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "sched/worker.hpp"
#include "weft/weft.hpp"

namespace weft::detail {
worker_group* process_group();
}

namespace {

TEST(StackHome, StacksOfFibersThatEndOnAnotherWorkerComeBack) {
    weft::runtime rt{{.workers = 2}};
    std::size_t slabs_after_first = 0, slabs_at_end = 0;
    rt.run([&] {
        weft::spawn_on(0, [&] {
            auto& pool = weft::detail::worker::current()->stacks();
            for (int round = 0; round < 40; ++round) {
                std::vector<weft::fiber_handle> hs;
                // Taken from worker 0's pool, run and freed on worker 1.
                for (int i = 0; i < 200; ++i) hs.push_back(weft::spawn([] {}, {.worker = 1}));
                for (auto& h : hs) h.join();
                // Worker 1 sends them home in batches of 32, and the rest when
                // it goes idle: either way, at most one batch a round stays out.
                if (round == 0) slabs_after_first = pool.slab_count();
            }
            slabs_at_end = pool.slab_count();
        }).join();
    });
    // 40 rounds of 200 fresh stacks would need 8,000 stacks (several slabs of
    // up to 1,024); stacks that come home are reused.
    EXPECT_LE(slabs_at_end, slabs_after_first + 2) << "stacks freed on worker 1 did not come back to worker 0";
}

// weft::thread from a plain main() takes stacks from the process runtime's
// shared pool: they must come back to it, or thread churn grows without end.
TEST(StackHome, ThreadChurnFromAPlainMainReusesStacks) {
    for (int round = 0; round < 100; ++round) {
        std::vector<weft::thread> ts;
        for (int i = 0; i < 100; ++i) ts.emplace_back([] {});
        for (auto& t : ts) t.join();
    }
    weft::detail::worker_group* g = weft::detail::process_group();
    std::size_t slabs;
    {
        std::lock_guard<weft::detail::os_mutex> lock(g->foreign_mu);
        slabs = g->foreign_stacks->slab_count();
    }
    // 10,000 stacks without reuse would take 14 slabs (16, 32, ... 1024, then 1024 each);
    // with reuse, 100 in use and a batch per worker on its way home fit in 4 or 5.
    EXPECT_LE(slabs, 5u) << "stacks of weft::threads did not come back to the shared pool";
}

}  // namespace
