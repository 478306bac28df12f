// Stack-overflow report: a SIGSEGV handler on an alternate signal stack names
// the fiber whose guard page was hit, then aborts.
#pragma once

#include <cstddef>

namespace weft::detail {

// Installs the process-wide handler once, and an alternate signal stack for
// the calling thread if it has none.
void install_overflow_handler();
// Removes the calling thread's alternate stack if install_overflow_handler made it.
void remove_overflow_stack() noexcept;

// Stacks that are not fibers' (a generator's body) are recognised through a
// probe, set once by their layer: given the faulting address, it says whether
// it lies in the guard below the stack the calling thread runs on, and names
// it. Called from the signal handler: async-signal-safe, no locks.
struct overflow_site {
    const char* kind;   // "generator"
    std::size_t stack_size;
};
using overflow_probe = bool (*)(const void* addr, overflow_site* site) noexcept;
void set_overflow_probe(overflow_probe probe) noexcept;

}  // namespace weft::detail
