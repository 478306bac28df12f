// Cost per yielded value: weft::generator against a Boost.Context fiber
// ping-pong generator and Boost.Coroutine2's pull_type, with weft's raw
// switch round trip as the floor. Self-timed (best of several runs) so it
// can print the ratios the comparison is about.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "context/context.hpp"
#include "weft/generator.hpp"
#include "weft/weft.hpp"

#if defined(WEFT_BENCH_HAVE_BOOST)
#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#if __has_include(<boost/coroutine2/coroutine.hpp>)
// GCC 12 sees a false maybe-uninitialized in Boost's own state bit-or.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/coroutine2/coroutine.hpp>
#pragma GCC diagnostic pop
#define WEFT_BENCH_HAVE_COROUTINE2 1
#endif
#endif

namespace {

using steady = std::chrono::steady_clock;

inline void keep(long v) { asm volatile("" : : "r"(v) : "memory"); }

// Best of `reps` runs of fn(n), in ns per value.
double best_ns_per_value(long n, int reps, const std::function<long(long)>& fn) {
    double best = 1e300;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = steady::now();
        const long sum = fn(n);
        const auto t1 = steady::now();
        keep(sum);
        if (sum != n * (n - 1) / 2) {
            std::fprintf(stderr, "wrong sum %ld\n", sum);
            std::exit(1);
        }
        best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n));
    }
    return best;
}

// ---- weft ---------------------------------------------------------------------

long weft_next(long n) {
    weft::generator<long> g([n] {
        for (long i = 0; i < n; ++i) weft::yield(i);
    });
    long sum = 0;
    while (auto v = g.next()) sum += *v;
    return sum;
}

long weft_range_for(long n) {
    weft::generator<long> g([n] {
        for (long i = 0; i < n; ++i) weft::yield(i);
    });
    long sum = 0;
    for (long v : g) sum += v;
    return sum;
}

long weft_in_fiber(long n) {
    long sum = 0;
    weft::run([&] { sum = weft_range_for(n); });
    return sum;
}

// The floor: two bare switches per value, the value passed as the switch argument.
void* g_main_sp = nullptr;
void* g_peer_sp = nullptr;
long g_limit = 0;
void raw_producer(void*) {
    for (long i = 0;; ++i) {
        void* v = reinterpret_cast<void*>(i < g_limit ? i : -1);
        weft::detail::switch_context(&g_peer_sp, g_main_sp, v);
    }
}

long weft_raw_switch(long n) {
    static std::vector<char> stk(64 * 1024);
    g_limit = n;
    g_peer_sp = weft::detail::make_context(stk.data() + stk.size(), stk.size(), &raw_producer);
    long sum = 0;
    for (;;) {
        const long v = reinterpret_cast<long>(weft::detail::switch_context(&g_main_sp, g_peer_sp, nullptr));
        if (v < 0) break;
        sum += v;
    }
    return sum;
}

// ---- Boost ----------------------------------------------------------------------
#if defined(WEFT_BENCH_HAVE_BOOST)
namespace bctx = boost::context;

// A generator as a Boost.Context user writes one: resume ping-pong, the value
// handed over through a slot the consumer reads.
class boost_fiber_generator {
public:
    explicit boost_fiber_generator(long n)
        : body_(std::allocator_arg, bctx::protected_fixedsize_stack(64 * 1024),
                [this, n](bctx::fiber&& consumer) {
                    for (long i = 0; i < n; ++i) {
                        value_ = &i;
                        consumer = std::move(consumer).resume();
                    }
                    value_ = nullptr;
                    return std::move(consumer);
                }) {}

    std::optional<long> next() {
        body_ = std::move(body_).resume();
        if (!value_) return std::nullopt;
        return *value_;
    }

private:
    const long* value_ = nullptr;
    bctx::fiber body_;
};

long boost_fiber(long n) {
    boost_fiber_generator g(n);
    long sum = 0;
    while (auto v = g.next()) sum += *v;
    return sum;
}

#if defined(WEFT_BENCH_HAVE_COROUTINE2)
long boost_pull_type(long n) {
    using coro = boost::coroutines2::coroutine<long>;
    coro::pull_type source(bctx::protected_fixedsize_stack(64 * 1024), [n](coro::push_type& sink) {
        for (long i = 0; i < n; ++i) sink(i);
    });
    long sum = 0;
    for (long v : source) sum += v;
    return sum;
}
#endif
#endif

}  // namespace

int main(int argc, char** argv) {
    long n = 20'000'000;
    int reps = 5;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--values") == 0 && i + 1 < argc) n = std::strtol(argv[++i], nullptr, 10);
        else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = std::atoi(argv[++i]);
        else {
            std::fprintf(stderr, "usage: %s [--values N] [--reps R]\n", argv[0]);
            return 2;
        }
    }

    struct row {
        std::string name;
        double ns;
    };
    std::vector<row> rows;
    auto measure = [&](const char* name, long (*fn)(long)) {
        rows.push_back({name, best_ns_per_value(n, reps, fn)});
    };
    measure("weft generator, next()", &weft_next);
    measure("weft generator, range-for", &weft_range_for);
    measure("weft generator, consumed by a fiber", &weft_in_fiber);
    measure("weft raw switch round trip (floor)", &weft_raw_switch);
#if defined(WEFT_BENCH_HAVE_BOOST)
    measure("Boost.Context fiber generator", &boost_fiber);
#if defined(WEFT_BENCH_HAVE_COROUTINE2)
    measure("Boost.Coroutine2 pull_type", &boost_pull_type);
#endif
#endif

    std::printf("%-40s %10s %12s\n", "implementation", "ns/value", "weft/this");
    const double weft_ns = rows[1].ns;  // range-for: the idiomatic consumer
    for (const row& r : rows)
        std::printf("%-40s %10.2f %12.3f\n", r.name.c_str(), r.ns, weft_ns / r.ns);
    std::printf("(%ld values, best of %d runs; weft context backend: %s; ratio < 1 means weft is faster)\n",
                n, reps, weft::detail::context_backend_name());
    return 0;
}
