// The stack pool: sizes, guard pages, slabs, reuse, memory given back, failure.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <system_error>

#include "context/annotate.hpp"
#include "stack/stack_pool.hpp"

namespace {

using weft::detail::stack;
using weft::detail::stack_pool;

std::size_t count_mappings() {
    std::ifstream maps("/proc/self/maps");
    std::size_t n = 0;
    for (std::string line; std::getline(maps, line);) ++n;
    return n;
}

// Pages of [p, p+len) resident in memory.
std::size_t resident_pages(void* p, std::size_t len) {
    const std::size_t ps = weft::detail::page_size();
    std::vector<unsigned char> v((len + ps - 1) / ps);
    if (::mincore(p, len, v.data()) != 0) return 0;
    std::size_t n = 0;
    for (unsigned char c : v) n += c & 1;
    return n;
}

TEST(StackPool, SizesAreRoundedToPagesWithAMinimum) {
    const std::size_t ps = weft::detail::page_size();
    EXPECT_EQ(stack_pool::rounded_size(0), stack_pool::min_stack_size);
    EXPECT_EQ(stack_pool::rounded_size(1), stack_pool::min_stack_size);
    EXPECT_EQ(stack_pool::rounded_size(64 * 1024), 64u * 1024);
    EXPECT_EQ(stack_pool::rounded_size(64 * 1024 + 1), 64u * 1024 + ps);
}

TEST(StackPool, StacksAreWritableAndDisjoint) {
    stack_pool pool;
    std::vector<stack> stacks;
    std::set<char*> los;
    for (int i = 0; i < 100; ++i) {
        stack s = pool.acquire(64 * 1024);
        ASSERT_EQ(s.size, 64u * 1024);
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(s.lo) % weft::detail::page_size(), 0u);
        std::memset(s.lo, i, s.size);  // every byte is usable
        stacks.push_back(s);
        los.insert(s.lo);
    }
    EXPECT_EQ(los.size(), 100u);
    for (std::size_t i = 0; i < stacks.size(); ++i)
        for (std::size_t j = i + 1; j < stacks.size(); ++j)
            ASSERT_TRUE(stacks[i].top() <= stacks[j].lo - pool.guard_size() ||
                        stacks[j].top() <= stacks[i].lo - pool.guard_size());
    for (std::size_t i = 0; i < stacks.size(); ++i)
        EXPECT_EQ(stacks[i].lo[0], static_cast<char>(i));  // no neighbour overwrote it
    for (auto& s : stacks) pool.release(s);
}

TEST(StackPool, OneMappingHoldsManyStacks) {
    stack_pool pool;
    std::vector<stack> stacks;
    for (int i = 0; i < 200; ++i) stacks.push_back(pool.acquire(32 * 1024));
    EXPECT_LE(pool.slab_count(), 5u);  // slabs grow geometrically: 16, 32, 64, 128, ...
    for (auto& s : stacks) pool.release(s);
}

TEST(StackPool, GuardsDoNotSplitMappingsWhenTheKernelHasGuardInstall) {
    if (weft::detail::probe_guard_kind() != weft::detail::guard_kind::madvise_guard)
        GTEST_SKIP() << "kernel without MADV_GUARD_INSTALL: mprotect guards, two mappings per stack";
    stack_pool pool;
    const std::size_t before = count_mappings();
    std::vector<stack> stacks;
    for (int i = 0; i < 1000; ++i) stacks.push_back(pool.acquire(64 * 1024));
    EXPECT_LE(count_mappings() - before, 60u);  // ~7 slabs (and a sanitizer's own), not 2000 mappings
    for (auto& s : stacks) pool.release(s);
}

TEST(StackPoolDeathTest, MprotectFallbackGuardsToo) {
    stack_pool pool(256, weft::detail::guard_kind::mprotect);
    EXPECT_EQ(pool.guard(), weft::detail::guard_kind::mprotect);
    const std::size_t before = count_mappings();
    std::vector<stack> stacks;
    for (int i = 0; i < 16; ++i) stacks.push_back(pool.acquire(64 * 1024));
    EXPECT_GE(count_mappings() - before, 16u);  // each PROT_NONE page splits the slab
    for (auto& s : stacks) std::memset(s.lo, 3, s.size);
    EXPECT_EXIT(
        {
            ::signal(SIGSEGV, SIG_DFL);
            *(volatile char*)(stacks[5].lo - 1) = 1;
        },
        ::testing::KilledBySignal(SIGSEGV), "");
    pool.trim();
    for (auto& s : stacks) pool.release(s);
}

TEST(StackPool, MemoryIsCommittedLazily) {
    stack_pool pool;
    stack s = pool.acquire(1024 * 1024);
    EXPECT_EQ(resident_pages(s.lo, s.size), 0u);
    s.top()[-1] = 1;  // touch only the top page
    EXPECT_EQ(resident_pages(s.lo, s.size), 1u);
    pool.release(s);
}

TEST(StackPool, ReleasedStacksAreReusedMostRecentFirst) {
    stack_pool pool;
    stack a = pool.acquire(64 * 1024);
    stack b = pool.acquire(64 * 1024);
    pool.release(a);
    pool.release(b);
    EXPECT_EQ(pool.acquire(64 * 1024).lo, b.lo);
    EXPECT_EQ(pool.acquire(64 * 1024).lo, a.lo);
}

TEST(StackPool, SizeClassesAreSeparate) {
    stack_pool pool;
    stack small = pool.acquire(16 * 1024);
    stack big = pool.acquire(256 * 1024);
    EXPECT_EQ(small.size, 16u * 1024);
    EXPECT_EQ(big.size, 256u * 1024);
    pool.release(small);
    EXPECT_EQ(pool.acquire(256 * 1024).size, 256u * 1024);
    EXPECT_EQ(pool.idle_stacks(16 * 1024), 16u);  // the released one plus its slab's fresh ones
}

TEST(StackPool, MemoryIsGivenBackAboveTheHighWaterMark) {
    stack_pool pool(/*high_water=*/4);
    std::vector<stack> stacks;
    for (int i = 0; i < 10; ++i) {
        stacks.push_back(pool.acquire(64 * 1024));
        std::memset(stacks.back().lo, 1, 64 * 1024);
    }
    for (auto& s : stacks) pool.release(s);
    EXPECT_EQ(pool.resident_idle_stacks(64 * 1024), 10u);  // release itself makes no syscall
    pool.trim();
    EXPECT_EQ(pool.resident_idle_stacks(64 * 1024), 4u);
    std::size_t resident = 0;
    for (auto& s : stacks) resident += resident_pages(s.lo, s.size);
    EXPECT_EQ(resident, 4u * 16);  // the four released last keep their 16 pages, the rest none
    for (int i = 6; i < 10; ++i) EXPECT_EQ(resident_pages(stacks[i].lo, stacks[i].size), 16u);
    // Trimmed stacks are still usable and still guarded.
    std::vector<stack> again;
    for (int i = 0; i < 10; ++i) {
        again.push_back(pool.acquire(64 * 1024));
        std::memset(again.back().lo, 2, 64 * 1024);
    }
    EXPECT_EXIT(
        {
            ::signal(SIGSEGV, SIG_DFL);
            *(volatile char*)(stacks[0].lo - 1) = 1;
        },
        ::testing::KilledBySignal(SIGSEGV), "");
    for (auto& s : again) pool.release(s);
}

using StackPoolDeathTest = ::testing::Test;

TEST(StackPoolDeathTest, GuardPageBelowEachStackFaults) {
    stack_pool pool;
    stack s = pool.acquire(64 * 1024);
    s.lo[0] = 1;
    EXPECT_EXIT(
        {
            ::signal(SIGSEGV, SIG_DFL);
            *(volatile char*)(s.lo - 1) = 1;
        },
        ::testing::KilledBySignal(SIGSEGV), "");
    pool.release(s);
}

// In a child with 256 MiB of address space: a slab of 16 stacks of 64 MiB cannot be mapped.
[[noreturn]] void acquire_beyond_rlimit_as() {
    rlimit lim{};
    lim.rlim_cur = lim.rlim_max = 256u << 20;
    ::setrlimit(RLIMIT_AS, &lim);
    // User-mode emulators (qemu-user) do not enforce RLIMIT_AS on the guest: say so.
    void* probe = ::mmap(nullptr, 512u << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe != MAP_FAILED) std::exit(3);
    stack_pool pool;
    try {
        pool.acquire(64u << 20);
        std::exit(1);
    } catch (const std::system_error& e) {
        std::exit(e.code() == std::errc::not_enough_memory ? 0 : 2);
    }
}

TEST(StackPool, MapFailureIsAnErrorNotACrash) {
#if WEFT_ASAN || WEFT_TSAN
    GTEST_SKIP() << "sanitizer shadow memory needs more address space than RLIMIT_AS would leave";
#endif
    auto ok_or_unenforced = [](int status) {
        return WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3);
    };
    EXPECT_EXIT(acquire_beyond_rlimit_as(), ok_or_unenforced, "");
}

TEST(StackPool, AbsurdSizesAreRejected) {
    stack_pool pool;
    EXPECT_THROW(pool.acquire(static_cast<std::size_t>(-1)), std::system_error);
    EXPECT_THROW(pool.acquire(std::size_t{1} << 50), std::system_error);
}

TEST(StackPool, GuardKindIsProbed) {
    auto k = weft::detail::probe_guard_kind();
    EXPECT_TRUE(k == weft::detail::guard_kind::madvise_guard || k == weft::detail::guard_kind::mprotect);
    EXPECT_NE(std::string(weft::detail::guard_kind_name(k)), "");
}

}  // namespace
