// Stack-overflow report: a SIGSEGV handler on an alternate signal stack names
// the fiber whose guard page was hit, then aborts.
#pragma once

namespace weft::detail {

// Installs the process-wide handler once, and an alternate signal stack for
// the calling thread if it has none.
void install_overflow_handler();
// Removes the calling thread's alternate stack if install_overflow_handler made it.
void remove_overflow_stack() noexcept;

}  // namespace weft::detail
