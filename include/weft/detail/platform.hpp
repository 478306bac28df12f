// The two platform facts the inline fast paths of weft's public headers need:
// whether the process has only one thread, and how to pause in a spin loop.
// Everything else of the platform layer (futex, clocks) is in src/platform/.
#pragma once

#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>  // glibc >= 2.32: one char, nothing else
#define WEFT_DETAIL_SINGLE_THREADED_FLAG 1
#endif
#endif

namespace weft::detail {

// True while the process has only the calling thread: then no other thread
// can look at a primitive's words, and an uncontended lock needs no locked
// instruction (glibc's own mutex takes the same shortcut). Only the one
// thread can make the process multi-threaded, by creating a thread, which
// publishes everything it wrote before; so a word written plainly in
// single-threaded times is seen correctly by the threads that follow.
inline bool process_single_threaded() noexcept {
#if defined(WEFT_DETAIL_SINGLE_THREADED_FLAG)
    return ::__libc_single_threaded != 0;
#else
    return false;
#endif
}

// One iteration of a spin-wait: tells the core (and its SMT sibling) so.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

}  // namespace weft::detail
