// Tells ASan, TSan and Valgrind about every stack switch, so all three work on weft programs.
#pragma once

#include <cstddef>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#endif
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_VALGRIND 1
#endif

#if WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace weft::detail {

// What the tools need to know about one execution context (a fiber or a thread's own stack).
struct context_annotations {
    const void* stack_bottom = nullptr;  // lowest usable byte; null until known
    std::size_t stack_size = 0;
    void* asan_fake_stack = nullptr;
    void* tsan_fiber = nullptr;
    unsigned valgrind_stack_id = 0;
};

// A fresh fiber stack.
inline void annotate_create(context_annotations& a, void* lo, std::size_t size) noexcept {
    a.stack_bottom = lo;
    a.stack_size = size;
#if WEFT_TSAN
    a.tsan_fiber = __tsan_create_fiber(0);
#endif
#if WEFT_VALGRIND
    a.valgrind_stack_id = VALGRIND_STACK_REGISTER(lo, static_cast<char*>(lo) + size - 1);  // end is inclusive
#endif
}

// A fiber stack about to go back to the pool; never the running context.
inline void annotate_destroy(context_annotations& a) noexcept {
#if WEFT_TSAN
    if (a.tsan_fiber) __tsan_destroy_fiber(a.tsan_fiber);
    a.tsan_fiber = nullptr;
#endif
#if WEFT_VALGRIND
    VALGRIND_STACK_DEREGISTER(a.valgrind_stack_id);
#endif
    (void)a;
}

// The calling thread's own stack, which the worker loop runs on.
inline void annotate_thread(context_annotations& a) noexcept {
#if WEFT_TSAN
    a.tsan_fiber = __tsan_get_current_fiber();
#endif
    (void)a;
}

// Just before leaving `from` for `to`. An exiting context never comes back,
// so ASan may drop its fake stack.
inline void annotate_leave(context_annotations& from, const context_annotations& to,
                           bool from_exiting) noexcept {
#if WEFT_ASAN
    __sanitizer_start_switch_fiber(from_exiting ? nullptr : &from.asan_fake_stack, to.stack_bottom,
                                   to.stack_size);
#endif
#if WEFT_TSAN
    __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
    (void)from, (void)to, (void)from_exiting;
}

// First thing after arriving in `self` from `prev`. ASan reports the stack we
// came from, which is how a thread's own stack bounds become known.
inline void annotate_arrive(context_annotations& self, context_annotations* prev) noexcept {
#if WEFT_ASAN
    const void* old_bottom = nullptr;
    std::size_t old_size = 0;
    __sanitizer_finish_switch_fiber(self.asan_fake_stack, &old_bottom, &old_size);
    if (prev && prev->stack_bottom == nullptr) {
        prev->stack_bottom = old_bottom;
        prev->stack_size = old_size;
    }
#endif
    (void)self, (void)prev;
}

}  // namespace weft::detail
