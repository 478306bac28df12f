// Every worker of the process, seen from outside: the registry of runtimes
// and weft::run workers that the SIGQUIT dump thread (weft::dump_on_sigquit) reads.
#pragma once

#include <cstdint>
#include <iosfwd>

namespace weft::detail {

class worker;
struct worker_group;

// A runtime once all its workers exist, until before they are freed; a
// weft::run worker for its run.
void register_group(worker_group* g);
void unregister_group(worker_group* g) noexcept;
void register_lone(worker* w);
void unregister_lone(worker* w) noexcept;

// Every registered worker's fibers, from any thread. The other workers go on
// running meanwhile: like weft::dump's view of another worker, it is a
// best-effort snapshot.
void dump_process(std::ostream& os);

// Threads weft itself runs that never wake a fiber (the SIGQUIT dump
// thread): the deadlock report does not count them as threads that might.
unsigned helper_threads() noexcept;

}  // namespace weft::detail
