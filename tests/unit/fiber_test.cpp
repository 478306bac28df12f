// The public fiber API: run, spawn, join/detach, ids and names, yield order,
// exceptions, misuse, stack overflow, FP state per fiber, many fibers.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cfenv>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "context/annotate.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;

TEST(Run, RunsTheFunctionAsAFiber) {
    bool ran = false;
    weft::fiber_id id = 0;
    EXPECT_FALSE(weft::in_fiber());
    weft::run([&] {
        ran = true;
        id = weft::this_fiber::id();
        EXPECT_TRUE(weft::in_fiber());
        EXPECT_EQ(weft::this_fiber::name(), "main");
    });
    EXPECT_TRUE(ran);
    EXPECT_NE(id, 0u);
    EXPECT_FALSE(weft::in_fiber());
    EXPECT_EQ(weft::this_fiber::id(), 0u);
}

TEST(Run, ReturnsOnlyWhenEveryFiberHasFinished) {
    int finished = 0;
    weft::run([&] {
        for (int i = 0; i < 10; ++i)
            weft::spawn([&, i] {
                for (int k = 0; k < i; ++k) weft::this_fiber::yield();
                ++finished;
            }).detach();
    });
    EXPECT_EQ(finished, 10);
}

TEST(Run, RethrowsTheMainFibersException) {
    EXPECT_THROW(weft::run([] { throw std::out_of_range("main"); }), std::out_of_range);
}

TEST(Run, CanRunAgainOnTheSameThread) {
    for (int i = 0; i < 3; ++i) {
        int n = 0;
        weft::run([&] { weft::spawn([&] { ++n; }).join(); });
        EXPECT_EQ(n, 1);
    }
}

TEST(Spawn, JoinWaitsForTheFiber) {
    weft::run([] {
        int step = 0;
        auto h = weft::spawn([&] {
            weft::this_fiber::yield();
            step = 1;
        });
        EXPECT_TRUE(h.joinable());
        h.join();
        EXPECT_EQ(step, 1);
        EXPECT_FALSE(h.joinable());
    });
}

TEST(Spawn, JoinAnAlreadyFinishedFiber) {
    weft::run([] {
        int v = 0;
        auto h = weft::spawn([&] { v = 7; });
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
        EXPECT_EQ(v, 7);
        h.join();
    });
}

TEST(Spawn, IdsAreUniqueAndNamesAreKept) {
    weft::run([] {
        std::vector<weft::fiber_handle> hs;
        std::vector<weft::fiber_id> seen;
        for (int i = 0; i < 50; ++i) {
            std::string name = "worker-" + std::to_string(i);
            hs.push_back(weft::spawn(
                [&seen, name] {
                    seen.push_back(weft::this_fiber::id());
                    EXPECT_EQ(weft::this_fiber::name(), name);
                },
                {.name = name}));
            EXPECT_EQ(hs.back().name(), name);
        }
        for (auto& h : hs) {
            EXPECT_NE(h.id(), 0u);
            h.join();
        }
        std::sort(seen.begin(), seen.end());
        EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
        EXPECT_EQ(seen.size(), 50u);
    });
}

TEST(Spawn, LongNamesAreTruncated) {
    weft::run([] {
        std::string longname(100, 'x');
        auto h = weft::spawn([] {}, {.name = longname});
        EXPECT_EQ(h.name(), std::string(31, 'x'));
        h.join();
    });
}

TEST(Spawn, MoveOnlyAndLargeCallables) {
    weft::run([] {
        auto p = std::make_unique<int>(41);
        int out = 0;
        weft::spawn([p = std::move(p), &out] { out = *p + 1; }).join();
        EXPECT_EQ(out, 42);
        std::array<char, 4000> big{};  // larger than the inline limit: boxed on the heap
        big[3999] = 9;
        weft::spawn([big, &out] { out = big[3999]; }).join();
        EXPECT_EQ(out, 9);
    });
}

TEST(Spawn, CallableIsDestroyedOnTheFiberWhenItEnds) {
    auto token = std::make_shared<int>(0);
    weft::run([&] {
        auto h = weft::spawn([t = token] { weft::this_fiber::yield(); });
        EXPECT_EQ(token.use_count(), 2);
        h.join();
        EXPECT_EQ(token.use_count(), 1);
    });
}

TEST(Spawn, CustomStackSize) {
    weft::run([] {
        weft::spawn(
            [] {
                volatile char buf[200 * 1024];  // needs more than the default 64 KiB
                buf[0] = 1;
                buf[sizeof buf - 1] = 2;
                EXPECT_EQ(buf[0] + buf[sizeof buf - 1], 3);
            },
            {.stack_size = 512 * 1024})
            .join();
    });
}

TEST(Yield, RoundRobinsInFifoOrder) {
    std::string trace;
    weft::run([&] {
        auto a = weft::spawn([&] {
            for (int i = 0; i < 3; ++i) {
                trace += 'a';
                weft::this_fiber::yield();
            }
        });
        auto b = weft::spawn([&] {
            for (int i = 0; i < 3; ++i) {
                trace += 'b';
                weft::this_fiber::yield();
            }
        });
        a.join();
        b.join();
    });
    EXPECT_EQ(trace, "ababab");
}

TEST(Yield, AloneReturnsImmediately) {
    weft::run([] {
        for (int i = 0; i < 1000; ++i) weft::this_fiber::yield();
    });
}

TEST(Exceptions, ThrownAndCaughtInsideAFiber) {
    weft::run([] {
        weft::spawn([] {
            int caught = 0;
            for (int i = 0; i < 100; ++i) {
                try {
                    weft::this_fiber::yield();
                    throw std::runtime_error("x");
                } catch (const std::runtime_error&) {
                    ++caught;
                }
            }
            EXPECT_EQ(caught, 100);
        }).join();
    });
}

TEST(Exceptions, EscapingExceptionIsDeliveredToJoin) {
    weft::run([] {
        auto h = weft::spawn([] {
            weft::this_fiber::yield();
            throw std::invalid_argument("from the fiber");
        });
        try {
            h.join();
            FAIL() << "join did not rethrow";
        } catch (const std::invalid_argument& e) {
            EXPECT_STREQ(e.what(), "from the fiber");
        }
    });
}

TEST(Misuse, JoinTwiceThrowsInvalidArgument) {
    weft::run([] {
        auto h = weft::spawn([] {});
        h.join();
        try {
            h.join();
            FAIL();
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::invalid_argument);
            EXPECT_NE(std::string(e.what()).find("not joinable"), std::string::npos);
        }
        auto d = weft::spawn([] {});
        d.detach();
        EXPECT_THROW(d.join(), std::system_error);
        EXPECT_THROW(d.detach(), std::system_error);
        weft::fiber_handle empty;
        EXPECT_THROW(empty.join(), std::system_error);
    });
}

TEST(Misuse, JoiningYourselfThrows) {
    weft::run([] {
        weft::fiber_handle self;
        auto h = weft::spawn([&] {
            weft::this_fiber::yield();
            try {
                self.join();
                ADD_FAILURE();
            } catch (const std::system_error& e) {
                EXPECT_EQ(e.code(), std::errc::resource_deadlock_would_occur);
            }
        });
        self = std::move(h);
        weft::this_fiber::yield();
        weft::this_fiber::yield();
        self.join();
    });
}

using MisuseDeathTest = ::testing::Test;

TEST(MisuseDeathTest, HandleDestroyedWhileJoinable) {
    EXPECT_DEATH(weft::run([] { auto h = weft::spawn([] {}, {.name = "lost"}); }),
                 "fiber handle destroyed while joinable \\(fiber 'lost' #[0-9]+\\)");
}

TEST(MisuseDeathTest, YieldOutsideAFiber) {
    EXPECT_DEATH(weft::this_fiber::yield(), "yield called outside weft::run");
}

TEST(MisuseDeathTest, SleepOutsideAFiber) {
    EXPECT_DEATH(weft::this_fiber::sleep_for(1ms), "sleep_for/sleep_until called outside");
}

TEST(MisuseDeathTest, SpawnOutsideRun) {
    EXPECT_DEATH(weft::spawn([] {}).detach(), "weft::spawn called outside weft::run");
}

TEST(MisuseDeathTest, NestedRun) {
    EXPECT_DEATH(weft::run([] { weft::run([] {}); }), "already running weft::run");
}

TEST(FiberTest, PlainThreadJoinsAFiberAndSeesItsException) {
    // The thread blocks on a futex while the fiber still sleeps; the worker
    // must not be blocked meanwhile, so main waits by sleeping, not by joining.
    std::atomic<bool> joined{false};
    std::string what;
    weft::run([&] {
        auto h = weft::spawn([] {
            weft::this_fiber::sleep_for(30ms);
            throw std::runtime_error("from the fiber");
        }, {.name = "home"});
        std::thread t([&, h = std::move(h)]() mutable {
            try {
                h.join();
            } catch (const std::runtime_error& e) {
                what = e.what();
            }
            joined = true;
        });
        for (int i = 0; i < 500 && !joined; ++i) weft::this_fiber::sleep_for(10ms);
        t.join();
    });
    EXPECT_TRUE(joined);
    EXPECT_EQ(what, "from the fiber");
}

TEST(MisuseDeathTest, ExceptionEscapingADetachedFiber) {
    EXPECT_DEATH(weft::run([] {
                     weft::spawn([] { throw std::runtime_error("boom"); }, {.name = "loose"}).detach();
                 }),
                 "uncaught exception in detached fiber 'loose' #[0-9]+: boom");
}

TEST(MisuseDeathTest, DeadlockIsReportedNotHung) {
    // Two fibers join each other; the handles outlive main so only the cycle remains.
    EXPECT_DEATH(weft::run([] {
                     auto* h = new weft::fiber_handle[2];
                     h[0] = weft::spawn([h] { h[1].join(); }, {.name = "a"});
                     h[1] = weft::spawn([h] { h[0].join(); }, {.name = "b"});
                 }),
                 "deadlock: all fibers are blocked\n2 fibers:\n.*'b' blocked on join");
}

[[gnu::noinline]] int overflow(int n) {
    volatile char pad[512];
    pad[0] = static_cast<char>(n);
    return overflow(n + 1) + pad[0];
}

TEST(StackOverflowDeathTest, GuardPageHitNamesTheFiber) {
    EXPECT_DEATH(weft::run([] {
                     weft::spawn([] { overflow(0); }, {.stack_size = 16 * 1024, .name = "deep"})
                         .join();
                 }),
                 "stack overflow in fiber 'deep' #[0-9]+ \\(stack 16 KiB\\)");
}

TEST(FpControl, EachFiberKeepsItsRoundingMode) {
    weft::run([] {
        int bad = 0;
        auto worker = [&](int mode) {
            std::fesetround(mode);
            for (int i = 0; i < 100; ++i) {
                weft::this_fiber::yield();
                if (std::fegetround() != mode) ++bad;
            }
            std::fesetround(FE_TONEAREST);
        };
        auto a = weft::spawn([&] { worker(FE_UPWARD); });
        auto b = weft::spawn([&] { worker(FE_DOWNWARD); });
        auto c = weft::spawn([&] { worker(FE_TOWARDZERO); });
        a.join();
        b.join();
        c.join();
        EXPECT_EQ(bad, 0);
        EXPECT_EQ(std::fegetround(), FE_TONEAREST);
    });
}

TEST(Stress, ThousandsOfFibersYieldingInRandomOrder) {
#if WEFT_STRESS_LARGE
    constexpr int n = 100000;
#elif WEFT_ASAN || WEFT_TSAN
    constexpr int n = 1000;  // sanitizers make each switch ~100x slower
#else
    constexpr int n = 5000;
#endif
    std::uint64_t total = 0;
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        hs.reserve(n);
        for (int i = 0; i < n; ++i)
            hs.push_back(weft::spawn([&total, i] {
                std::mt19937 rng(static_cast<unsigned>(i));
                std::uint64_t mine = 0;  // lives on this fiber's stack across switches
                const int rounds = static_cast<int>(rng() % 8);
                for (int r = 0; r < rounds; ++r) {
                    mine += static_cast<std::uint64_t>(i);
                    weft::this_fiber::yield();
                }
                total += mine;
            }, {.stack_size = 16 * 1024}));
        std::mt19937 rng(1);
        std::shuffle(hs.begin(), hs.end(), rng);  // join in random order
        for (auto& h : hs) h.join();
    });
    std::uint64_t expected = 0;
    for (int i = 0; i < n; ++i) {
        std::mt19937 rng(static_cast<unsigned>(i));
        expected += static_cast<std::uint64_t>(i) * (rng() % 8);
    }
    EXPECT_EQ(total, expected);
}

TEST(Stress, NestedSpawnTree) {
    int leaves = 0;
    std::function<void(int)> grow = [&](int depth) {
        if (depth == 0) {
            ++leaves;
            return;
        }
        auto l = weft::spawn([&, depth] { grow(depth - 1); });
        auto r = weft::spawn([&, depth] { grow(depth - 1); });
        l.join();
        r.join();
    };
    weft::run([&] { grow(10); });
    EXPECT_EQ(leaves, 1024);
}

}  // namespace

namespace {

TEST(Exceptions, FibersParkedInsideCatchBlocksKeepTheirOwnException) {
    // The C++ runtime keeps handled exceptions per thread; each fiber must see its own.
    weft::run([] {
        std::vector<weft::fiber_handle> hs;
        std::vector<std::string> seen(4);
        for (int i = 0; i < 4; ++i)
            hs.push_back(weft::spawn([&, i] {
                try {
                    throw std::runtime_error("fiber " + std::to_string(i));
                } catch (const std::exception&) {
                    weft::this_fiber::sleep_for(std::chrono::milliseconds(1 + i));  // others throw and catch meanwhile
                    try {
                        throw;  // rethrows the exception currently handled: must be this fiber's
                    } catch (const std::exception& again) {
                        seen[static_cast<std::size_t>(i)] = again.what();
                    }
                }
                EXPECT_EQ(std::uncaught_exceptions(), 0);
            }));
        for (auto& h : hs) h.join();
        for (int i = 0; i < 4; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], "fiber " + std::to_string(i));
    });
}

struct counts_uncaught {
    int* out;
    ~counts_uncaught() {
        weft::this_fiber::yield();  // another fiber runs while this one is unwinding
        *out = std::uncaught_exceptions();
    }
};

TEST(Exceptions, UncaughtCountIsPerFiber) {
    weft::run([] {
        int during_unwind = -1, other = -1;
        auto a = weft::spawn([&] {
            try {
                counts_uncaught c{&during_unwind};
                throw 1;
            } catch (int) {
            }
        });
        auto b = weft::spawn([&] { other = std::uncaught_exceptions(); });
        a.join();
        b.join();
        EXPECT_EQ(during_unwind, 1);
        EXPECT_EQ(other, 0);
    });
}

}  // namespace
