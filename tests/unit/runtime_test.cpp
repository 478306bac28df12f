// weft::runtime: placement, stealing of unstarted fibers only, cross-worker
// wake-ups through sync primitives, foreign threads, cancel and stop.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "sched/monitor.hpp"
#include "weft/weft.hpp"

using namespace std::chrono_literals;

namespace {

#ifdef WEFT_STRESS_LARGE
constexpr int cross_worker_values = 3'000'000;
#else
constexpr int cross_worker_values = 200'000;
#endif

thread_local int tls_marker = 0;

TEST(RuntimeTest, RunWaitsForEveryFiberAndReportsWorkers) {
    weft::runtime rt{{.workers = 2}};
    EXPECT_EQ(rt.workers(), 2u);
    std::atomic<int> done{0};
    int count = -1;
    rt.run([&] {
        count = weft::worker_count();
        for (int i = 0; i < 50; ++i)
            weft::spawn([&] {
                weft::this_fiber::sleep_for(1ms);
                ++done;
            }).detach();
    });
    EXPECT_EQ(done.load(), 50);
    EXPECT_EQ(count, 2);
}

TEST(RuntimeTest, RunRethrowsTheMainFibersException) {
    weft::runtime rt{{.workers = 2}};
    EXPECT_THROW(rt.run([] { throw std::runtime_error("main failed"); }), std::runtime_error);
    int ran = 0;
    rt.run([&] { ran = 1; });  // the runtime is still usable
    EXPECT_EQ(ran, 1);
}

TEST(RuntimeTest, SpawnOnPinsTheFiberToThatWorker) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> wrong{0};
    rt.run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int w = 0; w < 2; ++w)
            for (int i = 0; i < 20; ++i)
                hs.push_back(weft::spawn_on(w, [&, w] {
                    for (int k = 0; k < 50; ++k) {
                        if (weft::worker_index() != w) ++wrong;
                        if (k % 10 == 0) weft::this_fiber::sleep_for(100us);
                        else weft::this_fiber::yield();
                    }
                }));
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(wrong.load(), 0);
}

TEST(RuntimeTest, SpawnOnABadIndexThrows) {
    weft::runtime rt{{.workers = 2}};
    rt.run([] {
        EXPECT_THROW(weft::spawn_on(2, [] {}), std::system_error);
        EXPECT_THROW(weft::spawn_on(-7, [] {}), std::system_error);
    });
    EXPECT_THROW(rt.spawn([] {}, {.worker = 5}), std::system_error);
}

TEST(RuntimeTest, IdleWorkerStealsOnlyFibersThatHaveNotStarted) {
    weft::runtime rt{{.workers = 2}};
    constexpr int n = 200;
    std::atomic<int> moved_after_start{0};
    std::atomic<int> started_elsewhere{0};
    std::atomic<int> errno_or_tls_lost{0};
    rt.run([&] {
        const int home = weft::worker_index();
        std::vector<weft::fiber_handle> hs;
        auto body = [&, home](int i, int rounds) {
            const int first = weft::worker_index();
            if (first != home) ++started_elsewhere;
            const pthread_t thread = pthread_self();
            int* const errno_at = &errno;
            tls_marker = i;
            for (int k = 0; k < rounds; ++k) {
                // Busy work between yields keeps both workers wanting fibers.
                volatile unsigned x = 0;
                for (int s = 0; s < 2000; ++s) x = x + s;
                errno = i;
                weft::this_fiber::yield();
                if (weft::worker_index() != first || !pthread_equal(thread, pthread_self()))
                    ++moved_after_start;
                if (&errno != errno_at || errno != i) ++errno_or_tls_lost;
                tls_marker = i;
            }
        };
        for (int i = 0; i < n; ++i) hs.push_back(weft::spawn([&body, i] { body(i, 100); }));
        // The other worker asks for work when it goes idle, and is answered
        // at this worker's next spawn. If its thread was not scheduled while
        // the 200 were spawned, nothing was taken yet: keep spawning, one
        // small fiber at a time, with this thread blocked in between (no
        // yield, so nothing here starts and every fiber stays stealable),
        // until one has started over there, or a generous bound runs out.
        const auto until = std::chrono::steady_clock::now() + 10s;
        for (int i = n; i < n + 10'000 && started_elsewhere.load() == 0 &&
                        std::chrono::steady_clock::now() < until;
             ++i) {
            std::this_thread::sleep_for(1ms);
            hs.push_back(weft::spawn([&body, i] { body(i, 2); }));
        }
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(moved_after_start.load(), 0);
    EXPECT_GT(started_elsewhere.load(), 0) << "the idle worker took no unstarted fiber";
    // errno is per thread and other fibers of the same worker set it between
    // yields: only its address must stay the thread's.
    (void)errno_or_tls_lost;
}

// A worker busy with fibers it started (so it never goes idle) takes half
// of another worker's backlog of unstarted fibers at its maintenance pass.
// The spawning worker makes no pass meanwhile, so only the busy one can
// start any: the count is not a matter of timing.
TEST(RuntimeTest, ABatchSpawnedByOneFiberSpreadsToABusyWorker) {
    weft::runtime rt{{.workers = 2}};
    constexpr int n = 1000;
    std::atomic<int> on_other{0};
    std::atomic<bool> done{false};
    int while_spawner_busy = 0;
    rt.run([&] {
        const int home = weft::worker_index();
        const int other = 1 - home;
        auto busy = weft::spawn_on(other, [&] {
            const auto until = std::chrono::steady_clock::now() + 20s;
            while (!done.load() && std::chrono::steady_clock::now() < until) weft::this_fiber::yield();
        });
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < n; ++i)
            hs.push_back(weft::spawn([&, other] {
                if (weft::worker_index() == other) ++on_other;
            }));
        const auto until = std::chrono::steady_clock::now() + 20s;
        while (on_other.load() < n / 2 && std::chrono::steady_clock::now() < until) {
        }
        while_spawner_busy = on_other.load();  // after this, this worker is idle and may steal too
        done = true;
        busy.join();
        for (auto& h : hs) h.join();
    });
    EXPECT_GE(while_spawner_busy, n / 2) << "the busy worker took none of the backlog";
}

TEST(RuntimeTest, MigratableFibersMayMoveAtYield) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> moved{0};
    std::atomic<int> started_at_home{0};
    rt.run([&] {
        // The main fiber may have been taken by either worker before it started.
        const int home = weft::worker_index();
        const int other = 1 - home;
        std::vector<weft::fiber_handle> hs;
        // The other worker is kept busy (no yields) while the fibers start
        // here; when it is done it goes idle and asks this worker for
        // fibers, and only yielded migratable ones can go.
        std::atomic<bool> spinning{false};
        hs.push_back(weft::spawn_on(other, [&] {
            spinning = true;
            const auto until = std::chrono::steady_clock::now() + 10s;
            while (started_at_home < 10 && std::chrono::steady_clock::now() < until) {
            }
        }));
        {
            const auto until = std::chrono::steady_clock::now() + 10s;
            for (int i = 0; i < 100'000 && !spinning && std::chrono::steady_clock::now() < until; ++i)
                weft::this_fiber::sleep_for(100us);
        }
        for (int i = 0; i < 40; ++i)
            hs.push_back(weft::spawn([&, home] {
                const int first = weft::worker_index();
                if (first != home) return;  // only this worker's fibers are watched
                ++started_at_home;
                // Until one of them has moved (however late the other
                // worker's thread gets to ask), or a generous bound runs out.
                const auto until = std::chrono::steady_clock::now() + 10s;
                for (int k = 0; k < 100'000'000 && moved.load() == 0 && std::chrono::steady_clock::now() < until;
                     ++k) {
                    volatile unsigned x = 0;
                    for (int s = 0; s < 500; ++s) x = x + s;
                    weft::this_fiber::yield();
                    if (weft::worker_index() != first) {
                        ++moved;
                        break;
                    }
                }
            }, {.migratable = true}));
        for (auto& h : hs) h.join();
    });
    ASSERT_GT(started_at_home.load(), 1);
    EXPECT_GT(moved.load(), 0);
}

TEST(RuntimeTest, ValuesCrossWorkersThroughAChannelExactlyOnce) {
    weft::runtime rt{{.workers = 2}};
    constexpr int producers = 4;
    constexpr int per_producer = cross_worker_values / producers;
    std::vector<std::atomic<int>> seen(static_cast<std::size_t>(producers) * per_producer);
    rt.run([&] {
        weft::channel<int> ch(64);
        weft::wait_group wg;
        wg.add(producers);
        std::vector<weft::fiber_handle> hs;
        for (int p = 0; p < producers; ++p)
            hs.push_back(weft::spawn_on(0, [&, p] {
                for (int i = 0; i < per_producer; ++i) ch.send(p * per_producer + i);
                wg.done();
            }));
        hs.push_back(weft::spawn_on(0, [&] {
            wg.wait();
            ch.close();
        }));
        for (int c = 0; c < 2; ++c)
            hs.push_back(weft::spawn_on(1, [&] {
                for (int v : ch) seen[static_cast<std::size_t>(v)].fetch_add(1, std::memory_order_relaxed);
            }));
        for (auto& h : hs) h.join();
    });
    int bad = 0;
    for (auto& s : seen)
        if (s.load() != 1) ++bad;
    EXPECT_EQ(bad, 0);
}

TEST(RuntimeTest, MutexAndSelectAcrossWorkers) {
    weft::runtime rt{{.workers = 2}};
    long counter = 0;
    int selected = 0;
    rt.run([&] {
        weft::mutex mu;
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 8; ++i)
            hs.push_back(weft::spawn_on(i % 2, [&] {
                for (int k = 0; k < 2000; ++k) {
                    std::lock_guard<weft::mutex> lock(mu);
                    ++counter;
                    if (k % 100 == 0) weft::this_fiber::yield();
                }
            }));
        weft::channel<int> a(0), b(0);
        hs.push_back(weft::spawn_on(1, [&] { a.send(1); }));
        hs.push_back(weft::spawn_on(1, [&] { b.send(2); }));
        hs.push_back(weft::spawn_on(0, [&] {
            for (int i = 0; i < 2; ++i) {
                weft::select(weft::recv_case(a, [&](std::optional<int> v) { selected += v.value_or(0); }),
                             weft::recv_case(b, [&](std::optional<int> v) { selected += v.value_or(0); }));
            }
        }));
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(counter, 8 * 2000);
    EXPECT_EQ(selected, 3);
}

TEST(RuntimeTest, ForeignThreadsSpawnAndJoinFibers) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> sum{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                auto h = rt.spawn([&, t, i] {
                    weft::this_fiber::yield();
                    sum += t * 1000 + i;
                });
                h.join();
            }
        });
    for (auto& t : threads) t.join();
    int expected = 0;
    for (int t = 0; t < 4; ++t)
        for (int i = 0; i < 100; ++i) expected += t * 1000 + i;
    EXPECT_EQ(sum.load(), expected);
}

TEST(RuntimeTest, CancelFromAnotherThreadEndsABlockedWait) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> canceled{0};
    weft::channel<int> never(0);
    auto sleeper = rt.spawn([&] {
        std::error_code ec;
        weft::this_fiber::sleep_for(60s, ec);
        if (ec == std::errc::operation_canceled) ++canceled;
    });
    auto receiver = rt.spawn([&] {
        try {
            never.recv();
        } catch (const std::system_error& e) {
            if (e.code() == std::errc::operation_canceled) ++canceled;
        }
    });
    std::this_thread::sleep_for(20ms);
    sleeper.cancel();
    receiver.cancel();
    sleeper.join();
    receiver.join();
    EXPECT_EQ(canceled.load(), 2);
}

TEST(RuntimeTest, StopFromOutsideEndsBlockedFibers) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> politely{0};
    std::atomic<int> canceled{0};
    for (int i = 0; i < 4; ++i)
        rt.spawn([&] {
            // The error_code form: a worker thread not scheduled during the
            // grace leaves this fiber asleep when the cancel comes, and the
            // throwing form would then end a detached fiber with an exception.
            std::error_code ec;
            while (!weft::stop_requested()) weft::this_fiber::sleep_for(1ms, ec);
            ++politely;
        }).detach();
    for (int i = 0; i < 4; ++i)
        rt.spawn([&] {
            std::error_code ec;
            weft::this_fiber::sleep_for(60s, ec);
            if (ec == std::errc::operation_canceled) ++canceled;
        }).detach();
    std::this_thread::sleep_for(10ms);
    rt.stop(20ms);
    EXPECT_TRUE(rt.stop_requested());
    rt.wait_idle();
    EXPECT_EQ(politely.load(), 4);
    EXPECT_EQ(canceled.load(), 4);
    // Fibers spawned after the grace ended start canceled.
    std::error_code late;
    rt.spawn([&] { weft::this_fiber::sleep_for(60s, late); }).join();
    EXPECT_EQ(late, std::errc::operation_canceled);
}

TEST(RuntimeTest, DestructorCancelsFibersStillBlocked) {
    std::atomic<int> canceled{0};
    {
        weft::runtime rt{{.workers = 2}};
        for (int i = 0; i < 10; ++i)
            rt.spawn([&] {
                std::error_code ec;
                weft::this_fiber::sleep_for(60s, ec);
                if (ec) ++canceled;
            }).detach();
        std::this_thread::sleep_for(5ms);
    }
    EXPECT_EQ(canceled.load(), 10);
}

TEST(RuntimeTest, SocketsWorkOnWhicheverWorkerTheFiberRuns) {
    // Accepted on one worker, served by fibers an idle worker may take
    // before they start: the socket must work there too.
    weft::runtime rt{{.workers = 2}};
    constexpr int n = 200;
    std::atomic<int> served{0}, failed{0}, echoed{0};
    rt.run([&] {
        auto listener = weft::net::tcp_listener::bind(weft::net::address::parse("127.0.0.1:0"));
        const auto at = listener.local_address();
        auto clients = weft::spawn_on(1 - weft::worker_index(), [&] {
            weft::task_group g;
            for (int i = 0; i < n; ++i)
                g.spawn([&] {
                    auto c = weft::net::tcp_stream::connect(at);
                    weft::this_fiber::sleep_for(1ms);
                    char b = 'x';
                    c.write_all(&b, 1);
                    if (c.read(&b, 1, weft::deadline(30s)) == 1 && b == 'x') ++echoed;
                });
            g.wait();
        });
        for (int i = 0; i < n; ++i)
            weft::spawn([&, c = listener.accept()]() mutable {
                char b;
                std::error_code ec;
                c.read(&b, 1, ec, weft::deadline(30s));
                if (ec) {
                    ++failed;
                    return;
                }
                ++served;
                c.write_all(&b, 1);
            }).detach();
        clients.join();
    });
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(served.load(), n);
    EXPECT_EQ(echoed.load(), n);
}

TEST(RuntimeDeathTest, RunFromInsideTheRuntimeIsFatal) {
    EXPECT_DEATH(
        {
            weft::runtime rt{{.workers = 1}};
            rt.run([&] { rt.run([] {}); });
        },
        "called from a thread of the same runtime");
}

}  // namespace

// The stall report (runtime_options::stall_report, $WEFT_STALL_MS):
// a worker stuck in one fiber is reported once, an idle one never. The
// stuck fibers run until the report arrives (bounded generously), so no
// test depends on how fast the monitor looks.
namespace {
std::mutex stall_mu;
std::vector<std::string> stall_lines;
std::atomic<bool> stall_reported{false};

void collect_stall(const char* line) {
    {
        std::lock_guard<std::mutex> lock(stall_mu);
        stall_lines.emplace_back(line);
    }
    if (std::string_view(line).find(" stalled for ") != std::string_view::npos) stall_reported = true;
}

struct stall_capture {
    stall_capture() {
        stall_lines.clear();
        stall_reported = false;
        weft::detail::set_stall_report_hook(&collect_stall);
    }
    ~stall_capture() { weft::detail::set_stall_report_hook(nullptr); }
    std::vector<std::string> lines() {
        std::lock_guard<std::mutex> lock(stall_mu);
        return stall_lines;
    }
};

std::size_t count_containing(const std::vector<std::string>& lines, std::string_view what) {
    return static_cast<std::size_t>(
        std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(what) != l.npos; }));
}

// A loop with no call in it: a sample taken while it runs lands in it.
__attribute__((noinline)) void spin_in_a_named_function() {
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    for (unsigned i = 1;; ++i) {
        if (stall_reported.load(std::memory_order_relaxed)) return;
        if (i % (1u << 20) == 0 && std::chrono::steady_clock::now() >= give_up) return;
    }
}

void compute_until_reported() {
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    volatile unsigned sink = 0;
    while (!stall_reported.load() && std::chrono::steady_clock::now() < give_up) sink = sink + 1;  // no yield
}
}  // namespace

TEST(StallReportTest, AWorkerComputingInOneFiberIsReportedOnce) {
    stall_capture cap;
    weft::runtime rt{{.workers = 2, .stall_report = 20ms}};
    rt.run([] {
        auto h = weft::spawn(compute_until_reported, {.name = "cruncher", .worker = 1});
        h.join();
    });
    const auto lines = cap.lines();
    ASSERT_TRUE(stall_reported.load());
    EXPECT_EQ(count_containing(lines, "weft: worker 1 stalled for "), 1u) << ::testing::PrintToString(lines);
    EXPECT_EQ(count_containing(lines, " in fiber 'cruncher' #"), count_containing(lines, "worker 1 "))
        << ::testing::PrintToString(lines);
    EXPECT_EQ(count_containing(lines, "worker 0 stalled"), 0u) << ::testing::PrintToString(lines);  // it waited in join
}

TEST(StallReportTest, TheReportSaysComputingAndWhere) {
    stall_capture cap;
    weft::runtime rt{{.workers = 1, .stall_report = 20ms}};
    rt.run([] {
        auto h = weft::spawn(spin_in_a_named_function, {.name = "spinner"});
        h.join();
    });
    ASSERT_TRUE(stall_reported.load());
    const auto lines = cap.lines();
    // One report; a "ran again" line may follow it when the monitor sees the stall end.
    ASSERT_EQ(count_containing(lines, " stalled for "), 1u) << ::testing::PrintToString(lines);
    ASSERT_EQ(count_containing(lines, " stalled for ") + count_containing(lines, " ran again after "),
              count_containing(lines, " in fiber 'spinner' #"))
        << ::testing::PrintToString(lines);
    std::string report;
    for (const auto& l : lines)
        if (l.find(" stalled for ") != l.npos) report = l;
    EXPECT_NE(report.find(" (computing)"), std::string::npos) << report;
    EXPECT_NE(report.find("\n      #0 0x"), std::string::npos) << report;
    // Under ThreadSanitizer the sample lands in its runtime (atomics are calls
    // there, without frame pointers), so the walk stops before the function.
#if defined(WEFT_TEST_HAVE_LIBDW) && !defined(__SANITIZE_THREAD__)
    EXPECT_NE(report.find("spin_in_a_named_function"), std::string::npos) << report;
#endif
}

// A system call the kernel restarts after a signal handler: sampled (the
// call is not disturbed: it still returns its byte).
TEST(StallReportTest, ABlockingSystemCallIsNamedAndNotDisturbed) {
    stall_capture cap;
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    std::thread writer([&] {
        const auto give_up = std::chrono::steady_clock::now() + 60s;
        while (!stall_reported.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
        EXPECT_EQ(::write(p[1], "x", 1), 1);
    });
    long got = -2;
    int err = 0;
    weft::runtime rt{{.workers = 1, .stall_report = 20ms}};
    rt.run([&] {
        char c = 0;
        got = ::syscall(SYS_read, p[0], &c, 1);  // the worker's thread sleeps in read
        err = errno;
    });
    writer.join();
    ::close(p[0]);
    ::close(p[1]);
    EXPECT_EQ(got, 1) << std::strerror(err);
    ASSERT_TRUE(stall_reported.load());
    std::string report;
    for (const auto& l : cap.lines())
        if (l.find(" stalled for ") != l.npos) report = l;
    EXPECT_NE(report.find(" (blocked in read)"), std::string::npos) << report;
#if !defined(__SANITIZE_THREAD__)  // ThreadSanitizer holds signals back until its next interceptor
    EXPECT_NE(report.find("\n      #0 0x"), std::string::npos) << report;
#endif
}

TEST(StallReportTest, ACallThatBlocksTheThreadIsReported) {
    stall_capture cap;
    weft::runtime rt{{.workers = 1, .stall_report = 20ms}};
    rt.run([] {
        const auto give_up = std::chrono::steady_clock::now() + 60s;
        // A plain blocking sleep: the worker's thread, not the fiber, waits.
        while (!stall_reported.load() && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(1ms);
    });
    ASSERT_TRUE(stall_reported.load());
    EXPECT_EQ(count_containing(cap.lines(), "weft: worker 0 stalled for "), 1u);
    EXPECT_EQ(count_containing(cap.lines(), " in fiber 'main' #"), cap.lines().size());
    // Mostly asleep in the kernel, between its 1 ms sleeps computing a little:
    // the sample says which it caught.
    EXPECT_EQ(count_containing(cap.lines(), "nanosleep)") + count_containing(cap.lines(), " (computing)"), 1u)
        << ::testing::PrintToString(cap.lines());
}

TEST(StallReportTest, WeftRunReadsTheEnvironment) {
    stall_capture cap;
    ::setenv("WEFT_STALL_MS", "20", 1);
    weft::run([&cap] {
        // Until a report names this fiber: on a busy machine the main fiber
        // may be reported first, if its thread waited 20 ms for a CPU.
        auto h = weft::spawn([&cap] {
            const auto give_up = std::chrono::steady_clock::now() + 60s;
            volatile unsigned sink = 0;
            for (unsigned i = 1; std::chrono::steady_clock::now() < give_up; ++i) {
                sink = sink + 1;  // no yield
                if (i % 4096 == 0 && count_containing(cap.lines(), "'env-cruncher'") > 0) break;
            }
        }, {.name = "env-cruncher"});
        h.join();
    });
    ::unsetenv("WEFT_STALL_MS");
    ASSERT_TRUE(stall_reported.load());
    EXPECT_GE(count_containing(cap.lines(), "weft: worker 0 stalled for "), 1u);
    EXPECT_GE(count_containing(cap.lines(), "'env-cruncher'"), 1u);
}

TEST(StallReportTest, IdleAndBusyButSwitchingWorkersAreNotReported) {
    stall_capture cap;
    // The threshold is well above what the OS may take a loaded machine's
    // core away for: that too would be a stall.
    weft::runtime rt{{.workers = 2, .stall_report = 200ms}};
    rt.run([] {
        // Worker 1 idle for three times the threshold (its fiber sleeps);
        // worker 0 busy as long, but yielding, so it keeps making passes.
        auto sleeper = weft::spawn([] { weft::this_fiber::sleep_for(600ms); }, {.worker = 1});
        auto yielder = weft::spawn([] {
            const auto until = std::chrono::steady_clock::now() + 600ms;
            while (std::chrono::steady_clock::now() < until) weft::this_fiber::yield();
        }, {.worker = 0});
        sleeper.join();
        yielder.join();
    });
    EXPECT_TRUE(cap.lines().empty()) << ::testing::PrintToString(cap.lines());
}
