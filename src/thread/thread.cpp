// The out-of-line parts of weft::thread: the process's own runtime for
// threads started outside any fiber, and ids for plain threads.
#include <atomic>

#include "runtime/worker_count.hpp"
#include "weft/runtime.hpp"
#include "weft/thread.hpp"

namespace weft::detail {

worker_group* process_group() {
    // Never destroyed: its workers may be running fibers while the program
    // exits, as plain threads would. A runtime that cannot start throws
    // std::system_error and leaves the next call to try again.
    static runtime* rt = [] {
        const unsigned n = workers_from_env();  // a bad $WEFT_WORKERS is fatal here
        return new runtime(runtime_options{.workers = n});
    }();
    return rt->group_handle();
}

std::uint64_t plain_thread_id() noexcept {
    static std::atomic<std::uint64_t> next{1};
    thread_local const std::uint64_t mine = plain_thread_bit | next.fetch_add(1, std::memory_order_relaxed);
    return mine;
}

}  // namespace weft::detail
