// Raw context-switch round trip: weft's switch primitive against Boost.Context.
// One iteration = switch into a second context and back again (two switches).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "context/context.hpp"

#if defined(WEFT_BENCH_HAVE_BOOST)
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#endif

namespace {

constexpr std::size_t stack_bytes = 64 * 1024;

// Stacks for the raw contexts; 64-byte alignment keeps the top 16-byte aligned.
struct raw_stack {
    std::unique_ptr<std::byte[]> mem{new std::byte[stack_bytes + 64]};
    void* top() const {
        auto p = reinterpret_cast<std::uintptr_t>(mem.get()) + stack_bytes;
        return reinterpret_cast<void*>(p & ~std::uintptr_t{63});
    }
};

// ---- weft -------------------------------------------------------------------
void* g_main_sp = nullptr;
void* g_peer_sp = nullptr;

// Never returns: the benchmark simply stops switching to it, and its stack is freed.
void ping_back(void*) {
    for (;;) weft::detail::switch_context(&g_peer_sp, g_main_sp, nullptr);
}

void BM_weft_switch_round_trip(benchmark::State& state) {
    raw_stack stk;
    g_peer_sp = weft::detail::make_context(stk.top(), stack_bytes, &ping_back);
    for (auto _ : state) weft::detail::switch_context(&g_main_sp, g_peer_sp, nullptr);
    state.counters["ops_per_iter"] = 1;
    state.SetLabel(weft::detail::context_backend_name());
}
BENCHMARK(BM_weft_switch_round_trip);

#if defined(__x86_64__)
// The peer runs with flush-to-zero set, so every switch must reload MXCSR: the
// slow path of weft's switch, which the common case (same FP environment) skips.
void ping_back_ftz(void*) {
    unsigned csr = __builtin_ia32_stmxcsr();
    __builtin_ia32_ldmxcsr(csr | 0x8000);
    for (;;) weft::detail::switch_context(&g_peer_sp, g_main_sp, nullptr);
}

void BM_weft_switch_round_trip_fp_differs(benchmark::State& state) {
    raw_stack stk;
    g_peer_sp = weft::detail::make_context(stk.top(), stack_bytes, &ping_back_ftz);
    for (auto _ : state) weft::detail::switch_context(&g_main_sp, g_peer_sp, nullptr);
    state.counters["ops_per_iter"] = 1;
    state.SetLabel(weft::detail::context_backend_name());
}
BENCHMARK(BM_weft_switch_round_trip_fp_differs);
#endif

// ---- Boost.Context ----------------------------------------------------------
#if defined(WEFT_BENCH_HAVE_BOOST)
namespace bctx = boost::context;

// The public fiber API: what a Boost.Context user pays for a resume round trip.
void BM_boost_context_fiber_resume_round_trip(benchmark::State& state) {
    bctx::fiber peer{[](bctx::fiber&& back) {
        // Destroying `peer` below unwinds this loop by a forced_unwind exception.
        for (;;) back = std::move(back).resume();
        return std::move(back);
    }};
    for (auto _ : state) peer = std::move(peer).resume();
    state.counters["ops_per_iter"] = 1;
}
BENCHMARK(BM_boost_context_fiber_resume_round_trip);

// The bare fcontext primitive underneath, the closest peer of weft's raw switch.
void fcontext_ping_back(bctx::detail::transfer_t t) {
    for (;;) t = bctx::detail::jump_fcontext(t.fctx, nullptr);
}

void BM_boost_fcontext_jump_round_trip(benchmark::State& state) {
    raw_stack stk;
    bctx::detail::fcontext_t peer =
        bctx::detail::make_fcontext(stk.top(), stack_bytes, &fcontext_ping_back);
    for (auto _ : state) peer = bctx::detail::jump_fcontext(peer, nullptr).fctx;
    state.counters["ops_per_iter"] = 1;
}
BENCHMARK(BM_boost_fcontext_jump_round_trip);
#endif

}  // namespace

BENCHMARK_MAIN();
