// Stackful generators: yield from any depth, laziness, move-only and
// copy-free values, unwinding on early destruction, exceptions, nesting,
// use inside weft::run fibers and plain threads, many at once, misuse.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "context/annotate.hpp"
#include "weft/generator.hpp"
#include "weft/weft.hpp"

namespace {

// ---- yield from plain recursion -------------------------------------------

struct node {
    int value;
    std::unique_ptr<node> left, right;
};

void insert(std::unique_ptr<node>& at, int v) {
    if (!at) {
        at = std::make_unique<node>(node{v, nullptr, nullptr});
        return;
    }
    insert(v < at->value ? at->left : at->right, v);
}

// Ordinary recursion: no generator in sight except the yield at the bottom.
void in_order(const node* n) {
    if (!n) return;
    in_order(n->left.get());
    weft::yield(n->value);
    in_order(n->right.get());
}

TEST(Generator, InOrderWalkOfARecursiveTreeYieldsSortedValues) {
    std::mt19937 rng(7);
    std::vector<int> values(2000);
    std::iota(values.begin(), values.end(), 0);
    std::shuffle(values.begin(), values.end(), rng);
    std::unique_ptr<node> root;
    for (int v : values) insert(root, v);

    weft::generator<int> walk([&] { in_order(root.get()); });
    std::vector<int> seen;
    for (int v : walk) seen.push_back(v);
    std::sort(values.begin(), values.end());
    EXPECT_EQ(seen, values);
}

TEST(Generator, StartsLazily) {
    int ran = 0;
    weft::generator<int> g([&] {
        ++ran;
        weft::yield(1);
        ++ran;
    });
    EXPECT_EQ(ran, 0);
    EXPECT_EQ(g.next(), 1);
    EXPECT_EQ(ran, 1);
    EXPECT_EQ(g.next(), std::nullopt);
    EXPECT_EQ(ran, 2);
}

TEST(Generator, NextAndRangeForShareOnePosition) {
    weft::generator<int> g([] {
        for (int i = 0; i < 5; ++i) weft::yield(i);
    });
    EXPECT_EQ(g.next(), 0);
    EXPECT_EQ(g.next(), 1);
    std::vector<int> rest;
    for (int v : g) rest.push_back(v);  // begin() goes on after what next() took
    EXPECT_EQ(rest, (std::vector<int>{2, 3, 4}));
    static_assert(std::ranges::input_range<weft::generator<int>>);
}

TEST(Generator, ConvertingYieldNamesTheElementType) {
    weft::generator<std::string> g([] {
        weft::yield<std::string>("abc");
        int n = 3;
        weft::yield(std::string(static_cast<std::size_t>(n), 'x'));
    });
    EXPECT_EQ(g.next(), "abc");
    EXPECT_EQ(g.next(), "xxx");
    EXPECT_EQ(g.next(), std::nullopt);
}

// ---- values: move-only, and no copies ------------------------------------------

TEST(Generator, MoveOnlyValues) {
    weft::generator<std::unique_ptr<int>> g([] {
        for (int i = 0; i < 4; ++i) weft::yield(std::make_unique<int>(i));
        auto last = std::make_unique<int>(99);
        weft::yield(std::move(last));
    });
    auto first = g.next();
    ASSERT_TRUE(first && *first);
    EXPECT_EQ(**first, 0);
    std::vector<int> seen;
    for (auto p : g) seen.push_back(*p);  // *it is T&&: moved out, not copied
    EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 99}));
}

struct tracked {
    static inline int copies = 0;
    static inline int moves = 0;
    int v;
    explicit tracked(int v) : v(v) {}
    tracked(const tracked& o) : v(o.v) { ++copies; }
    tracked(tracked&& o) noexcept : v(o.v) { ++moves; }
};

TEST(Generator, RvaluesAreHandedOverInPlace) {
    tracked::copies = tracked::moves = 0;
    weft::generator<tracked> g([] {
        for (int i = 0; i < 3; ++i) weft::yield(tracked{i});
    });
    int sum = 0;
    for (auto&& t : g) sum += t.v;  // binds to the object on the body's stack
    EXPECT_EQ(sum, 3);
    EXPECT_EQ(tracked::copies, 0);
    EXPECT_EQ(tracked::moves, 0);

    weft::generator<tracked> h([] { weft::yield(tracked{5}); });
    auto v = h.next();  // one move into the optional
    EXPECT_EQ(v->v, 5);
    EXPECT_EQ(tracked::copies, 0);
    EXPECT_EQ(tracked::moves, 1);
}

TEST(Generator, LvaluesAreCopiedOnceSoTheBodyKeepsThem) {
    tracked::copies = tracked::moves = 0;
    tracked kept{7};
    weft::generator<tracked> g([&] {
        weft::yield(kept);
        weft::yield(kept);
    });
    for (auto t : g) EXPECT_EQ(t.v, 7);  // moves from the copy, never from `kept`
    EXPECT_EQ(kept.v, 7);
    EXPECT_EQ(tracked::copies, 2);
    EXPECT_EQ(tracked::moves, 2);
}

// ---- early destruction unwinds the body -----------------------------------------

struct counter_guard {
    explicit counter_guard(int* count) : count(count) {}
    counter_guard(const counter_guard&) = delete;
    ~counter_guard() { ++*count; }
    int* count;
};

void yield_nested(int depth, int* destroyed, int from) {
    counter_guard g{destroyed};
    if (depth == 0) {
        for (int i = from;; ++i) weft::yield(i);
    }
    yield_nested(depth - 1, destroyed, from);
}

TEST(Generator, EarlyBreakRunsDestructorsOfTheBody) {
    int destroyed = 0;
    bool reached_end = false;
    {
        weft::generator<int> g([&] {
            counter_guard outer{&destroyed};
            std::string heap_owned(1000, 'x');  // ASan's leak check sees if this is lost
            yield_nested(10, &destroyed, 0);
            reached_end = true;
        });
        int n = 0;
        for (int v : g) {
            EXPECT_EQ(v, n);
            if (++n == 3) break;
        }
        EXPECT_EQ(destroyed, 0);
    }
    EXPECT_EQ(destroyed, 1 + 11);  // outer + one per level of yield_nested
    EXPECT_FALSE(reached_end);
}

TEST(Generator, DestroyingAnUnstartedGeneratorNeverRunsTheBody) {
    bool ran = false;
    int destroyed = 0;
    {
        weft::generator<int> g([&, guard = std::make_shared<counter_guard>(&destroyed)] {
            ran = true;
            weft::yield(1);
        });
    }
    EXPECT_FALSE(ran);
    EXPECT_EQ(destroyed, 1);  // the callable itself is destroyed
}

TEST(Generator, CatchAllThatRethrowsIsFine) {
    int cleaned = 0;
    {
        weft::generator<int> g([&] {
            try {
                weft::yield(1);
                weft::yield(2);
            } catch (...) {
                ++cleaned;
                throw;
            }
        });
        EXPECT_EQ(g.next(), 1);
    }
    EXPECT_EQ(cleaned, 1);
}

TEST(Generator, MovedGeneratorsKeepTheirPlace) {
    weft::generator<int> a([] {
        for (int i = 0; i < 4; ++i) weft::yield(i);
    });
    EXPECT_EQ(a.next(), 0);
    weft::generator<int> b = std::move(a);
    EXPECT_TRUE(a.done());
    EXPECT_EQ(a.next(), std::nullopt);
    EXPECT_EQ(b.next(), 1);
    weft::generator<int> c([] { weft::yield(42); });
    c = std::move(b);  // c's unstarted body is dropped
    EXPECT_EQ(c.next(), 2);
    EXPECT_EQ(c.next(), 3);
    EXPECT_EQ(c.next(), std::nullopt);
}

// ---- exceptions ------------------------------------------------------------------

TEST(Generator, ExceptionInTheBodyPropagatesToTheConsumer) {
    weft::generator<int> g([] {
        weft::yield(1);
        throw std::runtime_error("body failed");
    });
    EXPECT_EQ(g.next(), 1);
    EXPECT_THROW(
        {
            try {
                g.next();
            } catch (const std::runtime_error& e) {
                EXPECT_STREQ(e.what(), "body failed");
                throw;
            }
        },
        std::runtime_error);
    EXPECT_TRUE(g.done());
    EXPECT_EQ(g.next(), std::nullopt);  // rethrown once only

    weft::generator<int> h([] {
        weft::yield(1);
        weft::yield(2);
        throw std::logic_error("in increment");
    });
    std::vector<int> seen;
    EXPECT_THROW(
        for (int v : h) seen.push_back(v), std::logic_error);
    EXPECT_EQ(seen, (std::vector<int>{1, 2}));

    weft::generator<int> first([]() -> void { throw std::out_of_range("at start"); });
    EXPECT_THROW(first.begin(), std::out_of_range);
}

// ---- empty and finished ------------------------------------------------------

TEST(Generator, EmptyGenerator) {
    weft::generator<int> g([] {});
    int n = 0;
    for (int v : g) n += v + 1;
    EXPECT_EQ(n, 0);
    EXPECT_TRUE(g.done());

    weft::generator<int> none;
    EXPECT_TRUE(none.done());
    EXPECT_EQ(none.next(), std::nullopt);
    for (int v : none) n += v + 1;
    EXPECT_EQ(n, 0);
}

TEST(Generator, NextAfterTheEndReturnsNullopt) {
    weft::generator<int> g([] { weft::yield(5); });
    EXPECT_EQ(g.next(), 5);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(g.next(), std::nullopt);
    EXPECT_TRUE(g.begin() == g.end());
}

// ---- nesting ---------------------------------------------------------------------

TEST(Generator, NestedGeneratorsYieldToTheirOwnConsumers) {
    weft::generator<std::string> outer([] {
        weft::generator<int> inner([] {
            for (int i = 1; i <= 3; ++i) {
                weft::generator<int> innermost([i] {
                    for (int k = 0; k < i; ++k) weft::yield(k);
                });
                int sum = 0;
                for (int k : innermost) sum += k + 1;
                weft::yield(sum);  // goes to `inner`'s consumer: the outer body
            }
        });
        for (int v : inner) weft::yield(std::to_string(v));
        weft::yield(std::string("end"));
    });
    std::vector<std::string> seen;
    for (auto s : outer) seen.push_back(s);
    EXPECT_EQ(seen, (std::vector<std::string>{"1", "3", "6", "end"}));
}

TEST(Generator, OuterBodyDestroyedWhileAnInnerIsSuspended) {
    int destroyed = 0;
    {
        weft::generator<int> outer([&] {
            counter_guard a{&destroyed};
            weft::generator<int> inner([&] {
                counter_guard b{&destroyed};
                for (int i = 0;; ++i) weft::yield(i);
            });
            for (int v : inner) weft::yield(v * 10);
        });
        EXPECT_EQ(outer.next(), 0);
        EXPECT_EQ(outer.next(), 10);
    }
    EXPECT_EQ(destroyed, 2);  // unwinding the outer destroys the inner, which unwinds too
}

// ---- inside weft::run and in plain threads ---------------------------------------

TEST(Generator, TwoFibersInterleaveWhileEachConsumesItsOwn) {
    std::vector<std::string> log;
    weft::run([&] {
        auto consume = [&](char name) {
            const weft::fiber_id me = weft::this_fiber::id();
            weft::generator<int> g([&, me] {
                for (int i = 0; i < 4; ++i) {
                    EXPECT_TRUE(weft::in_fiber());
                    EXPECT_EQ(weft::this_fiber::id(), me);  // the body runs in its consumer's stead
                    weft::yield(i);
                }
            });
            for (int v : g) {
                log.push_back(std::string(1, name) + std::to_string(v));
                weft::this_fiber::yield();  // in the consumer, never in the body
            }
        };
        auto a = weft::spawn([&] { consume('a'); }, {.name = "a"});
        auto b = weft::spawn([&] { consume('b'); }, {.name = "b"});
        a.join();
        b.join();
    });
    EXPECT_EQ(log, (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3"}));
}

TEST(Generator, ManyFibersWithGeneratorsInFlight) {
    long total = 0;
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int f = 0; f < 50; ++f) {
            hs.push_back(weft::spawn([&total, f] {
                weft::generator<int> g([f] {
                    for (int i = 0; i < 20; ++i) weft::yield(f * 100 + i);
                }, {.stack_size = 16 * 1024});
                while (auto v = g.next()) {
                    total += *v;
                    weft::this_fiber::yield();
                }
            }, {.stack_size = 32 * 1024}));
        }
        for (auto& h : hs) h.join();
    });
    long expected = 0;
    for (int f = 0; f < 50; ++f)
        for (int i = 0; i < 20; ++i) expected += f * 100 + i;
    EXPECT_EQ(total, expected);
}

TEST(Generator, WorksOnPlainThreadsConcurrently) {
    auto work = [](int seed, long* out) {
        weft::generator<long> g([seed] {
            for (long i = 0; i < 5000; ++i) weft::yield(i * seed);
        });
        long sum = 0;
        for (long v : g) sum += v;
        *out = sum;
    };
    long r1 = 0, r2 = 0;
    std::thread t1(work, 1, &r1), t2(work, 3, &r2);
    t1.join();
    t2.join();
    EXPECT_EQ(r1, 4999L * 5000 / 2);
    EXPECT_EQ(r2, 3 * (4999L * 5000 / 2));
}

TEST(Generator, AnUnstartedGeneratorMayMoveToAnotherThread) {
    weft::generator<int> g([] {
        weft::yield(1);
        weft::yield(2);
    });
    int sum = 0;
    std::thread t([&] {
        for (int v : g) sum += v;
    });
    t.join();
    EXPECT_EQ(sum, 3);
}

// ---- many at once, and stack sizes ----------------------------------------------

TEST(Generator, TenThousandAliveAtOnce) {
#if WEFT_TSAN
    constexpr int n = 1'000;  // TSan: each context is a thread to it (at most 8128, slow to create)
#else
    constexpr int n = 10'000;
#endif
    std::vector<weft::generator<int>> gens;
    gens.reserve(n);
    for (int i = 0; i < n; ++i)
        gens.emplace_back([i] {
            int local = i * 3;  // on this generator's own stack
            for (int k = 0; k < 3; ++k) weft::yield(local + k);
        }, weft::generator_options{.stack_size = 16 * 1024});
    for (int round = 0; round < 3; ++round)
        for (int i = 0; i < n; ++i) ASSERT_EQ(gens[i].next(), i * 3 + round);
    // Half end normally, half are destroyed while suspended.
    for (int i = 0; i < n; i += 2) ASSERT_EQ(gens[i].next(), std::nullopt);
    gens.clear();
}

[[gnu::noinline]] long dive(int depth, const char* top, std::size_t* deepest) {
    volatile char pad[256];
    pad[0] = static_cast<char>(depth);
    const auto used = static_cast<std::size_t>(top - static_cast<const char*>(__builtin_frame_address(0)));
    long r;
    if (used > 160 * 1024) {  // well past a 64 KiB default stack, well inside 256 KiB
        *deepest = used;
        weft::yield(depth);
        r = 0;
    } else {
        r = dive(depth + 1, top, deepest) + 1;
    }
    if (depth % 64 == 0) weft::yield(depth);  // yields on the way back up, too
    return r + (pad[0] & 0);
}

TEST(Generator, DeepRecursionWithA256KiBStack) {
    std::size_t deepest = 0;
    long levels = 0;
    weft::generator<int> g([&] {
        levels = dive(0, static_cast<const char*>(__builtin_frame_address(0)), &deepest);
    }, {.stack_size = 256 * 1024});
    std::vector<int> seen;
    for (int v : g) seen.push_back(v);
    ASSERT_FALSE(seen.empty());
    EXPECT_GT(deepest, 160u * 1024);
    EXPECT_EQ(seen.front(), levels);  // the bottom comes first
    EXPECT_EQ(seen.back(), 0);
    EXPECT_GT(levels, 100);
}

// ---- misuse ------------------------------------------------------------------------

using GeneratorDeathTest = ::testing::Test;

TEST(GeneratorDeathTest, YieldOutsideAGeneratorBody) {
    EXPECT_DEATH(weft::yield(1), "weft::yield called outside a generator body");
    EXPECT_DEATH(weft::run([] { weft::yield(1); }), "weft::yield called outside a generator body");
}

TEST(GeneratorDeathTest, YieldOfTheWrongType) {
    EXPECT_DEATH(
        {
            weft::generator<long> g([] { weft::yield(1); });
            g.next();
        },
        "weft::yield\\(int\\) in the body of a weft::generator<long( int)?>");
}

TEST(GeneratorDeathTest, SwallowingTheUnwindIsFatal) {
    EXPECT_DEATH(
        {
            weft::generator<int> g([] {
                for (int i = 0;; ++i) {
                    try {
                        weft::yield(i);
                    } catch (...) {
                    }
                }
            });
            g.next();
        },
        "called in a generator that is being destroyed");
}

TEST(GeneratorDeathTest, ABodyThatBlocksIsCaught) {
    EXPECT_DEATH(weft::run([] {
                     auto a = weft::spawn([] {
                         weft::generator<int> g([] {
                             weft::this_fiber::yield();  // forbidden: parks the consumer fiber
                             weft::yield(1);
                         });
                         g.next();
                     });
                     auto b = weft::spawn([] {
                         weft::generator<int> h([] { weft::yield(2); });
                         h.next();
                     });
                     a.join();
                     b.join();
                 }),
                 "generator bodies must not block");
}

TEST(GeneratorDeathTest, ResumedOnAnotherThread) {
    EXPECT_DEATH(
        {
            weft::generator<int> g([] {
                weft::yield(1);
                weft::yield(2);
            });
            g.next();
            std::thread t([&] { g.next(); });
            t.join();
        },
        "resumed .* on a thread other than the one that started it");
}

TEST(GeneratorDeathTest, ResumedFromItsOwnBody) {
    EXPECT_DEATH(
        {
            weft::generator<int>* self = nullptr;
            weft::generator<int> g([&] { self->next(); });
            self = &g;
            g.next();
        },
        "resumed from inside its own body");
}

[[gnu::noinline]] int overflow(int n) {
    volatile char pad[512];
    pad[0] = static_cast<char>(n);
    return overflow(n + 1) + pad[0];
}

TEST(GeneratorDeathTest, StackOverflowHitsTheGuardPage) {
    EXPECT_DEATH(
        {
            weft::generator<int> g([] { weft::yield(overflow(0)); }, {.stack_size = 16 * 1024});
            g.next();
        },
        "weft: stack overflow in a generator \\(stack 16 KiB\\)");
}

}  // namespace
