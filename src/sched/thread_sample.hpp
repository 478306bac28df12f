// Where a stalled worker's thread is, for the stall report: whether it
// computes or sleeps in a system call (from /proc), and, by a signal that
// walks the frame pointers of the fiber it runs, its backtrace.
#pragma once

#include <string>

namespace weft::detail {

// Arms the sampling signal (SIGRTMAX - 3) once; false when the program
// already handles that signal (reports then carry no backtrace).
bool prepare_thread_sampling() noexcept;

// " (computing)" or " (blocked in read)" for the thread tid of this process.
// With a backtrace when the thread could be interrupted safely (computing,
// or in a system call the kernel restarts after a handler), as lines of
// "      #N 0x... in function at file:line" appended to `backtrace`. Only
// one thread calls it at a time (the stall monitor).
std::string describe_thread(int tid, std::string& backtrace);

}  // namespace weft::detail
