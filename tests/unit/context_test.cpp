// The switch primitive itself, without the scheduler: registers, FP control,
// alignment, exceptions, recursion and many contexts.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "context/annotate.hpp"
#include "context/context.hpp"
#include "context/frame_layout.hpp"

using namespace weft::detail;

extern "C" std::uint64_t weft_test_switch_check(void** save, void* to, void* arg);
extern "C" void weft_test_scribbler(void* arg);
extern "C" std::uintptr_t weft_test_sp_at_call();

// Shim the register helpers call under the Boost.Context backend.
extern "C" void* weft_test_do_switch(void** save, void* to, void* arg) {
    return switch_context(save, to, arg);
}

namespace {

// A test-owned stack and context, switched with the same annotations the scheduler uses.
struct raw_context {
    explicit raw_context(std::size_t size = 256 * 1024) : size(size) {
        mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) throw std::runtime_error("mmap");
        annotate_create(annot, mem, size);
    }
    ~raw_context() {
        annotate_destroy(annot);
        ::munmap(mem, size);
    }
    void start(context_entry entry) { sp = make_context(static_cast<char*>(mem) + size, size, entry); }

    void* mem;
    std::size_t size;
    void* sp = nullptr;
    context_annotations annot;
};

// The thread's own stack: only its sp slot and annotations are used; ASan
// reports its bounds on the first switch away from it.
struct main_context : raw_context {
    main_context() : raw_context(16) {
        annotate_destroy(annot);
        annot = {};
        annotate_thread(annot);
    }
    ~main_context() { annot = {}; }  // the thread's own context is not ours to destroy
} main_ctx;

void* jump(raw_context& from, raw_context& to, void* arg) {
    annotate_leave(from.annot, to.annot, false);
    void* r = switch_context(&from.sp, to.sp, arg);
    annotate_arrive(from.annot, &to.annot);  // every switch in these tests comes back from `to`
    return r;
}

// ---- round trip and argument passing ---------------------------------------

raw_context* g_child;
void echo_entry(void* arg) {
    annotate_arrive(g_child->annot, &main_ctx.annot);
    auto v = reinterpret_cast<std::uintptr_t>(arg);
    for (;;) v = reinterpret_cast<std::uintptr_t>(jump(*g_child, main_ctx, reinterpret_cast<void*>(v + 1)));
}

TEST(Switch, PassesArgumentsBothWays) {
    raw_context child;
    g_child = &child;
    child.start(&echo_entry);
    for (std::uintptr_t i = 0; i < 1000; ++i)
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(jump(main_ctx, child, reinterpret_cast<void*>(i))), i + 1);
}

// ---- callee-saved registers -----------------------------------------------

struct scribble_slots {
    void* self_sp;
    void* back_sp;
};

TEST(Switch, EveryCalleeSavedRegisterSurvives) {
    raw_context child;
    scribble_slots slots{};
    child.start(&weft_test_scribbler);
    slots.self_sp = child.sp;
    // Each call loads known values, switches to a context that overwrites every
    // callee-saved register, and comes back; the mask names any that changed.
    for (int i = 0; i < 100; ++i) {
        std::uint64_t mask = weft_test_switch_check(&slots.back_sp, slots.self_sp, &slots);
        ASSERT_EQ(mask, 0u) << "callee-saved registers clobbered, bit mask " << std::hex << mask;
    }
}

// ---- FP control state -------------------------------------------------------

raw_context* g_fp;
volatile double g_third_down, g_third_up;
void fp_entry(void*) {
    annotate_arrive(g_fp->annot, &main_ctx.annot);
    // Runs with the creator's rounding (nearest); switches to upward, and must keep it.
    EXPECT_EQ(std::fegetround(), FE_TONEAREST);
    std::fesetround(FE_UPWARD);
    for (;;) {
        jump(*g_fp, main_ctx, nullptr);
        EXPECT_EQ(std::fegetround(), FE_UPWARD);
    }
}

TEST(Switch, FpControlStateIsPerContext) {
    ASSERT_EQ(std::fesetround(FE_TONEAREST), 0);
    raw_context child;
    g_fp = &child;
    child.start(&fp_entry);
    jump(main_ctx, child, nullptr);
    EXPECT_EQ(std::fegetround(), FE_TONEAREST);
    std::fesetround(FE_DOWNWARD);
    for (int i = 0; i < 10; ++i) {
        jump(main_ctx, child, nullptr);
        ASSERT_EQ(std::fegetround(), FE_DOWNWARD);
    }
    volatile double one = 1.0, three = 3.0;
    g_third_down = one / three;
    std::fesetround(FE_UPWARD);
    g_third_up = one / three;
    std::fesetround(FE_TONEAREST);
    EXPECT_NE(g_third_down, g_third_up);  // the mode really changed the arithmetic
}

TEST(Switch, NewContextInheritsCreatorFpControl) {
    std::fesetround(FE_TOWARDZERO);
    raw_context child;
    g_child = &child;
    static int seen;
    child.start([](void*) {
        annotate_arrive(g_child->annot, &main_ctx.annot);
        seen = std::fegetround();
        for (;;) jump(*g_child, main_ctx, nullptr);
    });
    std::fesetround(FE_TONEAREST);
    jump(main_ctx, child, nullptr);
    EXPECT_EQ(seen, FE_TOWARDZERO);
    EXPECT_EQ(std::fegetround(), FE_TONEAREST);
}

// ---- alignment at entry ----------------------------------------------------

raw_context* g_align;
std::uintptr_t g_sp_at_call;
std::uintptr_t g_aligned_local;
char g_printed[64];
void align_entry(void*) {
    annotate_arrive(g_align->annot, &main_ctx.annot);
    g_sp_at_call = weft_test_sp_at_call();
    alignas(16) volatile double pair[2] = {1.5, 2.25};
    g_aligned_local = reinterpret_cast<std::uintptr_t>(&pair[0]);
    // Variadic double formatting uses aligned SSE stores on x86-64: misalignment crashes here.
    std::snprintf(g_printed, sizeof g_printed, "%.2f %.3f %g", pair[0], pair[1], std::sqrt(2.0));
    for (;;) jump(*g_align, main_ctx, nullptr);
}

TEST(Switch, StackIsAlignedAtEntry) {
    for (std::size_t offset : {0, 8, 16, 24, 40}) {  // unaligned tops are aligned by make_context
        raw_context child;
        g_align = &child;
        child.sp = make_context(static_cast<char*>(child.mem) + child.size - offset,
                                child.size - offset, &align_entry);
        jump(main_ctx, child, nullptr);
        EXPECT_EQ(g_sp_at_call % 16, 0u) << "offset " << offset;
        EXPECT_EQ(g_aligned_local % 16, 0u);
        EXPECT_STREQ(g_printed, "1.50 2.250 1.41421");
    }
}

// ---- exceptions and unwinding ---------------------------------------------

raw_context* g_exc;
int g_caught;
[[gnu::noinline]] void thrower(int depth) {
    if (depth == 0) throw std::runtime_error("deep");
    thrower(depth - 1);
    asm volatile("");
}
void exc_entry(void*) {
    annotate_arrive(g_exc->annot, &main_ctx.annot);
    for (;;) {
        try {
            thrower(50);  // unwinds across 50 frames on this stack
        } catch (const std::runtime_error& e) {
            if (std::strcmp(e.what(), "deep") == 0) ++g_caught;
        }
        jump(*g_exc, main_ctx, nullptr);
    }
}

TEST(Switch, ExceptionsThrownAndCaughtInsideAContext) {
    raw_context child;
    g_exc = &child;
    g_caught = 0;
    child.start(&exc_entry);
    for (int i = 0; i < 20; ++i) jump(main_ctx, child, nullptr);
    EXPECT_EQ(g_caught, 20);
    // And the main stack still throws and catches normally in between.
    EXPECT_THROW(thrower(5), std::runtime_error);
}

// ---- deep recursion ----------------------------------------------------------

raw_context* g_deep;
std::uint64_t g_sum;
[[gnu::noinline]] std::uint64_t recurse(std::uint64_t n) {
    volatile char pad[64];
    pad[0] = static_cast<char>(n);
    if (n == 0) return 0;
    return n + recurse(n - 1) + (pad[0] & 0);
}
void deep_entry(void*) {
    annotate_arrive(g_deep->annot, &main_ctx.annot);
    g_sum = recurse(20000);
    for (;;) jump(*g_deep, main_ctx, nullptr);
}

TEST(Switch, DeepRecursionOnALargeStack) {
    raw_context child(8 * 1024 * 1024);
    g_deep = &child;
    child.start(&deep_entry);
    jump(main_ctx, child, nullptr);
    EXPECT_EQ(g_sum, 20000ull * 20001 / 2);
}

// ---- many contexts in random order -----------------------------------------

struct counted {
    raw_context ctx{32 * 1024};
    std::uint64_t count = 0;
    std::uint64_t local_check = 0;
};
std::vector<counted*>* g_all;
void count_entry(void* arg) {
    auto* self = static_cast<counted*>(arg);
    annotate_arrive(self->ctx.annot, &main_ctx.annot);
    std::uint64_t mine = 0;  // a stack local: survives only if this stack is left intact
    for (;;) {
        ++mine;
        self->count = mine;
        self->local_check = mine ^ reinterpret_cast<std::uintptr_t>(self);
        jump(self->ctx, main_ctx, nullptr);
    }
}

TEST(Switch, ThousandsOfContextsInRandomOrder) {
    constexpr int n = 2000;
    std::vector<counted*> all;
    for (int i = 0; i < n; ++i) {
        all.push_back(new counted);
        all.back()->ctx.start(&count_entry);
    }
    g_all = &all;
    std::vector<std::uint64_t> expected(n, 0);
    std::mt19937 rng(42);
    for (int step = 0; step < 50000; ++step) {
        int i = static_cast<int>(rng() % n);
        jump(main_ctx, all[i]->ctx, all[i]);
        ++expected[i];
        ASSERT_EQ(all[i]->count, expected[i]);
        ASSERT_EQ(all[i]->local_check, expected[i] ^ reinterpret_cast<std::uintptr_t>(all[i]));
    }
    for (auto* c : all) delete c;
}

// ---- the saved frame, as src/context/frame_layout.hpp describes it --------

raw_context* g_parker;
std::uintptr_t g_parker_frame;  // park_here's frame pointer while it is parked

[[gnu::noinline]] void park_here() {
    g_parker_frame = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    annotate_leave(g_parker->annot, main_ctx.annot, false);
    switch_context(&g_parker->sp, main_ctx.sp, nullptr);
    annotate_arrive(g_parker->annot, &main_ctx.annot);
    asm volatile("" ::: "memory");  // no tail call: the switch is called from this frame
}

void parker_entry(void*) {
    annotate_arrive(g_parker->annot, &main_ctx.annot);
    for (;;) park_here();
}

// A return address that lies within the first bytes of fn's code.
bool returns_into(std::uintptr_t pc, std::uintptr_t fn) { return pc > fn && pc < fn + 1024; }

TEST(Switch, SavedFrameMatchesFrameLayout) {
    if (!saved_frame::known) GTEST_SKIP() << "frame_layout.hpp describes no frame for this backend";
    raw_context child;
    g_parker = &child;
    child.start(&parker_entry);
    const auto lo = reinterpret_cast<std::uintptr_t>(child.mem);
    const auto hi = lo + child.size;
    auto on_stack = [&](std::uintptr_t p) { return p >= lo && p + 16 <= hi; };
    auto word = [](std::uintptr_t p) { return *reinterpret_cast<const std::uintptr_t*>(p); };
#if !defined(WEFT_CONTEXT_BOOST)
    // A fresh context resumes in the trampoline, with no frame to walk.
    {
        const auto sp = reinterpret_cast<std::uintptr_t>(child.sp);
        ASSERT_TRUE(on_stack(sp + saved_frame::pc_offset));
        EXPECT_EQ(word(sp + saved_frame::pc_offset), reinterpret_cast<std::uintptr_t>(&weft_trampoline));
        EXPECT_EQ(word(sp + saved_frame::fp_offset), 0u);
    }
#endif
    for (int round = 0; round < 2; ++round) {
        g_parker_frame = 0;
        jump(main_ctx, child, nullptr);  // runs until park_here switches back
        ASSERT_TRUE(on_stack(g_parker_frame));
        const auto sp = reinterpret_cast<std::uintptr_t>(child.sp);
        ASSERT_TRUE(on_stack(sp + saved_frame::pc_offset));
        std::uintptr_t fp = word(sp + saved_frame::fp_offset);
        std::uintptr_t pc = word(sp + saved_frame::pc_offset);
        const auto park = reinterpret_cast<std::uintptr_t>(&park_here);
        if (fp != g_parker_frame || !returns_into(pc, park)) {
            // The switch was called from an out-of-line switch_context (the
            // Boost.Context backend, or an unoptimized build): one frame more.
            const auto sw = reinterpret_cast<std::uintptr_t>(&switch_context);
            EXPECT_TRUE(returns_into(pc, sw)) << std::hex << "resume address 0x" << pc
                                              << " is in neither park_here (0x" << park
                                              << ") nor switch_context (0x" << sw << ")";
            ASSERT_TRUE(on_stack(fp)) << std::hex << "saved frame pointer 0x" << fp;
            pc = word(fp + 8);
            fp = word(fp);
        }
        EXPECT_EQ(fp, g_parker_frame) << "the saved frame pointer is not park_here's frame";
        EXPECT_TRUE(returns_into(pc, park)) << std::hex << "resume address 0x" << pc
                                            << " is not in park_here (0x" << park << ")";
    }
}

TEST(Switch, BackendIsNamed) {
    std::string name = context_backend_name();
    EXPECT_TRUE(name == "asm" || name == "boost") << name;
}

}  // namespace
