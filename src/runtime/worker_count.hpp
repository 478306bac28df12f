// How many workers a runtime starts: the default (the CPUs the process may
// use), the range every count must fall in, and $WEFT_WORKERS, checked here
// for every reader.
#pragma once

#include <string>
#include <string_view>

namespace weft::detail {

// The most workers one runtime may have: 1024, or the usable CPUs where there
// are more. Far above any useful count, far below what would exhaust memory
// or descriptors (each worker holds a thread, a reactor and two fds).
unsigned max_workers() noexcept;

// A worker count as written in $WEFT_WORKERS: decimal digits only (no sign,
// no blanks), 1..max_workers(). Returns the count, or 0 with `why` set.
unsigned parse_worker_count(std::string_view text, std::string& why);

// $WEFT_WORKERS, or 0 when it is not set. A value parse_worker_count refuses
// is fatal: "weft: WEFT_WORKERS=<value>: <why>" on stderr, then abort.
unsigned workers_from_env();

// runtime_options::workers as the runtime will start them: 0 means
// usable_cpus(). Throws std::invalid_argument above max_workers().
unsigned resolve_worker_count(unsigned requested);

}  // namespace weft::detail
