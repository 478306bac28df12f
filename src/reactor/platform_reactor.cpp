// Which backend a worker gets on Linux: io_uring where weft was built with
// liburing and the kernel allows it, epoll otherwise.
//
// The choice, first that applies: runtime_options::reactor (for that
// runtime's workers), the environment (WEFT_REACTOR=io_uring|epoll), else
// io_uring if it works (and not under Valgrind). The first ring that cannot
// be made (io_uring_disabled, ENOSYS, EPERM under seccomp) makes every later
// worker take epoll at once; that fallback is silent unless io_uring was
// asked for by name, which prints one line to stderr.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "reactor/epoll_reactor.hpp"
#if defined(WEFT_HAVE_URING)
#include "reactor/uring_reactor.hpp"
#endif
#include "weft/runtime.hpp"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define WEFT_ON_VALGRIND() false
#endif

namespace weft::detail {

namespace {
reactor_backend env_choice() noexcept {
    static const reactor_backend choice = [] {
        const char* v = std::getenv("WEFT_REACTOR");
        if (!v || !*v || std::strcmp(v, "auto") == 0) return reactor_backend::automatic;
        if (std::strcmp(v, "epoll") == 0) return reactor_backend::epoll;
        if (std::strcmp(v, "io_uring") == 0 || std::strcmp(v, "uring") == 0) return reactor_backend::io_uring;
        std::fprintf(stderr, "weft: WEFT_REACTOR=%s is neither io_uring nor epoll; choosing by itself\n", v);
        return reactor_backend::automatic;
    }();
    return choice;
}

#if defined(WEFT_HAVE_URING)
std::atomic<bool> uring_unavailable{false};
std::once_flag uring_said;
#endif
}  // namespace

std::unique_ptr<reactor> make_platform_reactor() {
    reactor_backend want = thread_reactor_choice();
    if (want == reactor_backend::automatic) want = env_choice();
    // Valgrind (3.19) holds its lock across a blocking io_uring_enter, so
    // every other thread stops while a worker waits in the ring, and it does
    // not see what the kernel writes into buffers through the ring: left to
    // choose, take epoll there.
    if (want == reactor_backend::automatic && WEFT_ON_VALGRIND()) want = reactor_backend::epoll;
    // Left to choose, io_uring where the kernel allows it: socket reads and
    // writes of weft::net then go through the ring. Measured with echo, 100
    // connections x 64 B, server CPU per round trip: 3.42-3.58 us on the
    // ring, 3.70-3.75 us on epoll, 3.47-3.68 us for a raw epoll server.
#if defined(WEFT_HAVE_URING)
    if (want != reactor_backend::epoll && !uring_unavailable.load(std::memory_order_acquire)) {
        try {
            return std::make_unique<uring_reactor>();
        } catch (const std::system_error& e) {
            const int err = e.code().value();
            // Out of descriptors: epoll would fail the same way. (ENOMEM: the
            // ring counts against RLIMIT_MEMLOCK before Linux 5.12; epoll may do.)
            if (err == EMFILE || err == ENFILE) throw;
            uring_unavailable.store(true, std::memory_order_release);
            if (want == reactor_backend::io_uring)
                std::call_once(uring_said, [&] {
                    std::fprintf(stderr, "weft: io_uring unavailable (%s); using epoll\n", std::strerror(err));
                });
        }
    }
#else
    if (want == reactor_backend::io_uring) {
        static std::once_flag said;
        std::call_once(said, [] { std::fprintf(stderr, "weft: built without io_uring (liburing); using epoll\n"); });
    }
#endif
    return std::make_unique<epoll_reactor>();
}

}  // namespace weft::detail
