// Every worker of the process, seen from outside: the registry of runtimes
// and weft::run workers that the SIGQUIT dump thread (weft::dump_on_sigquit)
// and the stall monitor (runtime_options::stall_report) read.
#pragma once

#include <cstdint>
#include <iosfwd>

namespace weft::detail {

class worker;
struct worker_group;

// A runtime once all its workers exist, until before they are freed; a
// weft::run worker for its run. stall_ns > 0 watches its workers for stalls.
void register_group(worker_group* g, std::int64_t stall_ns);
void unregister_group(worker_group* g) noexcept;
void register_lone(worker* w, std::int64_t stall_ns);
void unregister_lone(worker* w) noexcept;

// Every registered worker's fibers, from any thread. The other workers go on
// running meanwhile: like weft::dump's view of another worker, it is a
// best-effort snapshot.
void dump_process(std::ostream& os);

// Threads weft itself runs that never wake a fiber (the SIGQUIT dump thread,
// the stall monitor): the deadlock report does not count them as threads
// that might.
unsigned helper_threads() noexcept;

// $WEFT_STALL_MS (or the older $WEFT_STALL_REPORT_MS) in nanoseconds, or 0 when unset or not a positive number.
std::int64_t stall_report_from_env() noexcept;

// Tests: stall reports go to `hook` (one line, no newline) instead of stderr.
void set_stall_report_hook(void (*hook)(const char* line)) noexcept;

}  // namespace weft::detail
