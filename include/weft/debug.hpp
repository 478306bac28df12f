// Seeing inside a running weft program: a dump of every fiber (state, what
// it waits on, for how long, a backtrace), on demand or on SIGQUIT, and how
// much of its stack a fiber has touched.
#pragma once

#include <cstddef>
#include <iosfwd>

namespace weft {

// Writes every fiber of the calling thread's worker (and, in a runtime, a
// best-effort snapshot of the other workers' fibers): id, name, state, what
// it waits on (fd and direction, timer, join, sync primitive, offload), for
// how long, and a frame-pointer backtrace of each parked fiber. Outside weft
// it writes "no weft worker on this thread".
void dump(std::ostream& os);

// Opt-in: on SIGQUIT (Ctrl-\, kill -QUIT) print every fiber of every
// weft::runtime and weft::run worker in the process to stderr and go on
// running, whichever thread the signal lands on, like Go's SIGQUIT
// traceback. The handler only wakes a helper thread (started here), which
// formats the dump outside signal context: a snapshot, since the workers
// keep running meanwhile.
void dump_on_sigquit();

struct stack_usage_info {
    std::size_t reserved = 0;  // the fiber's usable stack size
    std::size_t touched = 0;   // bytes of it in resident pages: the high-water mark, page-rounded
};
// The calling fiber's stack. `touched` counts every page of the stack ever
// written since it was given memory, including by an earlier fiber that ran
// on the same pooled stack, so it is an upper bound on this fiber's use; size
// stacks with some margin above it. Zeros outside a fiber.
stack_usage_info stack_usage() noexcept;

}  // namespace weft
