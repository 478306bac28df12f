// How a runtime starts: the default worker count (affinity mask and cgroup
// CPU quota), $WEFT_WORKERS and runtime_options::workers checked, and a start
// that fails (no thread, no descriptors for a reactor) leaving nothing behind.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "platform/process.hpp"
#include "runtime/worker_count.hpp"
#include "sched/thread_start.hpp"
#include "weft/weft.hpp"

namespace {

namespace fs = std::filesystem;
using weft::detail::cgroup_cpu_limit;

// ---- $WEFT_WORKERS and runtime_options::workers ---------------------------------

unsigned parse(const char* text, std::string* why_out = nullptr) {
    std::string why;
    const unsigned n = weft::detail::parse_worker_count(text, why);
    if (why_out) *why_out = why;
    return n;
}

TEST(WorkerCount, ParsesDecimalCounts) {
    EXPECT_EQ(parse("1"), 1u);
    EXPECT_EQ(parse("4"), 4u);
    EXPECT_EQ(parse("007"), 7u);
    EXPECT_EQ(parse("1024"), 1024u);
    EXPECT_GE(weft::detail::max_workers(), 1024u);
}

TEST(WorkerCount, RefusesWhatIsNotACountWithAReason) {
    const std::string max = std::to_string(weft::detail::max_workers());
    const std::string above = std::to_string(weft::detail::max_workers() + 1ull);
    const struct {
        const char* text;
        const char* why;
    } bad[] = {
        {"", "empty"},
        {"-1", "negative"},
        {"-0", "negative"},
        {"0", "zero workers"},
        {"000", "zero workers"},
        {"abc", "not a decimal number"},
        {"2x", "not a decimal number"},
        {" 3", "not a decimal number"},
        {"3 ", "not a decimal number"},
        {"+3", "not a decimal number"},
        {"0x10", "not a decimal number"},
        {"99999999999", "more workers than weft allows"},
        {"18446744073709551617", "more workers than weft allows"},  // 2^64 + 1: no wrap-around
        {above.c_str(), "more workers than weft allows"},
    };
    for (const auto& b : bad) {
        std::string why;
        EXPECT_EQ(parse(b.text, &why), 0u) << "'" << b.text << "'";
        EXPECT_EQ(why.rfind(b.why, 0), 0u) << "'" << b.text << "': " << why;
        EXPECT_NE(why.find("(expected a count of workers, 1.." + max + ")"), std::string::npos) << why;
    }
}

TEST(WorkerCount, DefaultIsTheUsableCpusAndAbsurdCountsThrow) {
    EXPECT_EQ(weft::detail::resolve_worker_count(0), weft::detail::usable_cpus());
    EXPECT_EQ(weft::detail::resolve_worker_count(3), 3u);
    EXPECT_THROW(weft::detail::resolve_worker_count(weft::detail::max_workers() + 1), std::invalid_argument);
    try {
        weft::runtime rt{{.workers = 99'999'999}};
        ADD_FAILURE() << "a runtime of 99999999 workers started";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("runtime_options::workers = 99999999: more workers than weft allows"),
                  std::string::npos)
            << e.what();
    }
    weft::runtime rt;
    EXPECT_EQ(rt.workers(), weft::detail::usable_cpus());
}

// The reader of $WEFT_WORKERS: a bad value ends the program with its reason.
TEST(WorkerCountDeathTest, BadWeftWorkersIsFatalWithTheReason) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const struct {
        const char* value;
        const char* message;
    } bad[] = {
        {"-1", "weft: WEFT_WORKERS=-1: negative"},
        {"0", "weft: WEFT_WORKERS=0: zero workers"},
        {"abc", "weft: WEFT_WORKERS=abc: not a decimal number"},
        {"2x", "weft: WEFT_WORKERS=2x: not a decimal number"},
        {"", "weft: WEFT_WORKERS=: empty"},
        {"99999999999", "weft: WEFT_WORKERS=99999999999: more workers than weft allows"},
    };
    for (const auto& b : bad) {
        EXPECT_DEATH(
            {
                ::setenv("WEFT_WORKERS", b.value, 1);
                weft::detail::workers_from_env();
            },
            b.message);
    }
}

// The same through weft::thread, whose runtime reads $WEFT_WORKERS on first use.
TEST(WorkerCountDeathTest, TheProcessRuntimeChecksWeftWorkers) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            ::setenv("WEFT_WORKERS", "-1", 1);
            weft::thread t([] {});
            t.join();
        },
        "weft: WEFT_WORKERS=-1: negative");
    EXPECT_EXIT(
        {
            ::setenv("WEFT_WORKERS", "3", 1);
            int workers = 0;
            weft::thread t([&] { workers = weft::worker_count(); });
            t.join();
            std::_Exit(workers == 3 ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
}

// ---- cgroup CPU quotas, on fake trees -------------------------------------------

class CgroupLimit : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "weft-cgroup-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
        root_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    void put(const std::string& rel, const std::string& text) {
        const fs::path p = fs::path(root_) / rel;
        fs::create_directories(p.parent_path());
        std::ofstream(p) << text;
    }
    unsigned limit(const std::string& proc_self_cgroup) const { return cgroup_cpu_limit(root_, proc_self_cgroup); }
    std::string root_;
};

TEST_F(CgroupLimit, V2QuotaInWholeCpusRoundedUp) {
    put("a/b/cpu.max", "200000 100000\n");
    EXPECT_EQ(limit("0::/a/b\n"), 2u);
    put("a/b/cpu.max", "150000 100000\n");
    EXPECT_EQ(limit("0::/a/b\n"), 2u);
    put("a/b/cpu.max", "50000 100000\n");  // half a CPU: still one worker
    EXPECT_EQ(limit("0::/a/b\n"), 1u);
    put("a/b/cpu.max", "400000 50000\n");
    EXPECT_EQ(limit("0::/a/b"), 8u);  // no newline at the end
}

TEST_F(CgroupLimit, V2MaxAndMissingFilesMeanNoLimit) {
    put("a/b/cpu.max", "max 100000\n");
    EXPECT_EQ(limit("0::/a/b\n"), 0u);
    EXPECT_EQ(limit("0::/not/there\n"), 0u);
    EXPECT_EQ(limit(""), 0u);
    EXPECT_EQ(limit("garbage\n"), 0u);
    put("c/cpu.max", "lots\n");
    EXPECT_EQ(limit("0::/c\n"), 0u);
    EXPECT_EQ(cgroup_cpu_limit(root_ + "/nowhere", "0::/a/b\n"), 0u);
}

TEST_F(CgroupLimit, V2TheTightestLimitOnThePathToTheRoot) {
    put("a/cpu.max", "300000 100000\n");
    put("a/b/cpu.max", "max 100000\n");
    put("a/b/c/cpu.max", "500000 100000\n");
    EXPECT_EQ(limit("0::/a/b/c\n"), 3u);  // the grandparent binds
    put("cpu.max", "100000 100000\n");
    EXPECT_EQ(limit("0::/a/b/c\n"), 1u);  // the root binds
    EXPECT_EQ(limit("0::/\n"), 1u);
    // A cgroup the mount does not show (no cgroup namespace): its parents still count.
    EXPECT_EQ(limit("0::/a/elsewhere/deeper\n"), 1u);
}

TEST_F(CgroupLimit, V1CfsQuotaOfTheCpuController) {
    put("cpu/x/cpu.cfs_quota_us", "250000\n");
    put("cpu/x/cpu.cfs_period_us", "100000\n");
    EXPECT_EQ(limit("12:pids:/x\n4:cpu:/x\n2:memory:/x\n"), 3u);
    EXPECT_EQ(limit("12:pids:/x\n2:cpuacct:/x\n"), 0u);  // not the cpu controller
    put("cpu,cpuacct/y/cpu.cfs_quota_us", "100000\n");
    put("cpu,cpuacct/y/cpu.cfs_period_us", "100000\n");
    EXPECT_EQ(limit("4:cpu,cpuacct:/y\n"), 1u);
    put("cpu/x/cpu.cfs_quota_us", "-1\n");
    EXPECT_EQ(limit("4:cpu:/x\n"), 0u);
    // Hybrid: the v1 quota and a v2 path, the smaller counts.
    put("cpu/x/cpu.cfs_quota_us", "600000\n");
    put("z/cpu.max", "200000 100000\n");
    EXPECT_EQ(limit("4:cpu:/x\n0::/z\n"), 2u);
}

TEST(UsableCpus, AtLeastOneAndNoMoreThanTheAffinityOrTheQuota) {
    const unsigned n = weft::detail::usable_cpus();
    EXPECT_GE(n, 1u);
    if (const unsigned a = weft::detail::affinity_cpus()) EXPECT_LE(n, a);
    std::ifstream in("/proc/self/cgroup");
    const std::string self((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (const unsigned q = cgroup_cpu_limit("/sys/fs/cgroup", self)) EXPECT_LE(n, q);
}

// A thread bound to one CPU sees one, and a runtime it makes starts one worker.
TEST(UsableCpus, FollowTheAffinityMask) {
    unsigned seen = 0, usable = 0, workers = 0;
    bool bound = false;
    std::thread t([&] {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (::sched_getaffinity(0, sizeof set, &set) != 0) return;
        int cpu = 0;
        while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set)) ++cpu;
        if (cpu == CPU_SETSIZE) return;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (::sched_setaffinity(0, sizeof set, &set) != 0) return;
        bound = true;
        seen = weft::detail::affinity_cpus();
        usable = weft::detail::usable_cpus();
        weft::runtime rt;
        workers = rt.workers();
        rt.run([] { weft::this_fiber::yield(); });
    });
    t.join();
    if (!bound) GTEST_SKIP() << "cannot bind a thread to one CPU here";
    EXPECT_EQ(seen, 1u);
    EXPECT_EQ(usable, 1u);
    EXPECT_EQ(workers, 1u);
}

// ---- a start that fails -------------------------------------------------------------

// The process's threads before a runtime starts. A thread started and joined
// first: ThreadSanitizer starts its own background thread with the first one.
unsigned threads_now() {
    std::thread([] {}).join();
    return weft::detail::process_thread_count();
}

// Thread exits are seen in /proc a little after join returns.
unsigned threads_settled_to(unsigned want) {
    unsigned n = weft::detail::process_thread_count();
    for (int i = 0; i < 5000 && n != want; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        n = weft::detail::process_thread_count();
    }
    return n;
}

unsigned open_fds() {
    unsigned n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d)) ++n;
        ::closedir(d);
    }
    return n;
}

struct fail_worker_start {
    explicit fail_worker_start(int index) {
        weft::detail::fail_thread_start_for_test(weft::detail::thread_role::worker, index);
    }
    ~fail_worker_start() { weft::detail::fail_thread_start_for_test(weft::detail::thread_role::worker, -1); }
};

// Every worker runs a fiber, so all of them work.
void expect_runtime_works(unsigned workers) {
    weft::runtime rt{{.workers = workers}};
    std::atomic<unsigned> ran{0};
    rt.run([&] {
        std::vector<weft::fiber_handle> hs;
        for (unsigned i = 0; i < workers; ++i) hs.push_back(weft::spawn_on(static_cast<int>(i), [&] { ++ran; }));
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(ran.load(), workers);
}

TEST(RuntimeStart, AWorkerThreadThatCannotStartThrowsAndLeavesNothing) {
    // Released reactors go back to a process-wide pool: one runtime of the
    // same size first, so the pool holds what the failed starts may take.
    expect_runtime_works(4);
    const unsigned threads = threads_now();
    const unsigned fds = open_fds();
    for (int failing : {2, 0, 3}) {
        {
            fail_worker_start hook(failing);
            try {
                weft::runtime rt{{.workers = 4}};
                ADD_FAILURE() << "the runtime started";
            } catch (const std::system_error& e) {
                EXPECT_EQ(e.code(), std::errc::resource_unavailable_try_again);
                EXPECT_NE(std::string(e.what()).find("weft::runtime: cannot start the thread of worker " +
                                                     std::to_string(failing) + " of 4"),
                          std::string::npos)
                    << e.what();
            }
        }
        EXPECT_EQ(threads_settled_to(threads), threads) << "workers started before the failure are still there";
#if !defined(WEFT_TEST_PORTABLE_EMULATION)
        // Not on the emulated kqueue (the portable preset): there the
        // reactors of a failed start are not all released yet.
        EXPECT_EQ(open_fds(), fds) << "reactors of the workers that started were not released";
#endif
    }
    expect_runtime_works(4);
}

// No descriptors left for the reactors' epoll fd and eventfd: the error is
// the kernel's (EMFILE), and the workers that did make theirs let them go.
TEST(RuntimeStart, NoDescriptorsForAReactorThrowsAndLeavesNothing) {
    // UndefinedBehaviorSanitizer checks the type of a polymorphic object (a
    // reactor, a std::system_error) the first time it meets it by probing
    // memory through a pipe: without descriptors that probe fails. A start
    // and the same failure once while there are fds, and it has the types
    // checked already.
    expect_runtime_works(2);
    {
        fail_worker_start hook(0);
        try {
            weft::runtime rt{{.workers = 1}};
        } catch (const std::system_error& e) {
            EXPECT_FALSE(e.code().message().empty());
        }
    }
    const unsigned threads = threads_now();
    const unsigned fds = open_fds();
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    const int spare = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(spare, 0);
    int highest = spare;
    for (int fd = spare + 1; fd < spare + 64; ++fd)
        if (::fcntl(fd, F_GETFD) >= 0) highest = fd;
    rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(highest) + 1;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    // Every number below the limit taken, then two given back: one reactor's worth.
    std::vector<int> fillers;
    for (int i = 0; i < 100'000; ++i) {
        const int fd = ::dup(spare);
        if (fd < 0) break;
        fillers.push_back(fd);
    }
    for (int i = 0; i < 2 && !fillers.empty(); ++i) {
        ::close(fillers.back());
        fillers.pop_back();
    }
    std::error_code code;
    std::string what;
    bool started = false;
    try {
        weft::runtime rt{{.workers = 4}};
        started = true;
    } catch (const std::system_error& e) {
        code = e.code();
        what = e.what();
    }
    for (int fd : fillers) ::close(fd);
    ::close(spare);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);

    EXPECT_FALSE(started) << "four reactors were made from two descriptors";
    EXPECT_EQ(code, std::errc::too_many_files_open) << what;
    EXPECT_NE(what.find("weft::runtime: cannot start worker "), std::string::npos) << what;
    EXPECT_EQ(threads_settled_to(threads), threads);
    EXPECT_EQ(open_fds(), fds);
    expect_runtime_works(4);
}

// The process's own runtime (weft::thread outside fibers) that cannot start:
// weft::thread throws, nothing stays half-made, and the next one starts it.
TEST(RuntimeStartDeathTest, TheProcessRuntimeThatCannotStartIsTriedAgain) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            ::setenv("WEFT_WORKERS", "2", 1);
            int code = 0;
            {
                fail_worker_start hook(1);
                try {
                    weft::thread t([] {});
                    t.join();
                    code = 1;
                } catch (const std::system_error& e) {
                    if (e.code() != std::errc::resource_unavailable_try_again) code = 2;
                }
            }
            int ran = 0;
            if (code == 0) {
                weft::thread t([&] { ran = weft::worker_count(); });
                t.join();
            }
            std::_Exit(code ? code : ran == 2 ? 0 : 3);
        },
        ::testing::ExitedWithCode(0), "");
}

}  // namespace
