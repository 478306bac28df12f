// The reactor backend contract. A backend is one kernel readiness object (an
// epoll set, an io_uring, a kqueue) that one worker polls at a
// time. Only the poller (poller.hpp) and the worker's idle loop use it;
// fibers never see it. What every backend must do:
//
//   add(token)    register token.fd for edge-triggered read and write
//                 readiness, or change an existing registration (modify);
//                 if the fd is ready already, the next poll reports it.
//                 Any thread: the poller moves an fd between workers'
//                 backends. Errors: EPERM (a file that is always ready),
//                 EBADF/ENOENT (gone), ENOMEM/ENOSPC.
//   remove(fd)    forget fd; any thread; errors ignored (it may be gone).
//   poll(t, ...)  wait up to t ns (< 0: forever, 0: just look) and report
//                 events, each with the token it was registered with; only
//                 the thread of the worker that holds the backend. An
//                 interrupted wait reports nothing.
//   wake()        any thread: makes a poll in progress, or the next, return.
//
// Events may be stale (an fd closed and reused since: its token's serial is
// old) or spurious (nothing to read after all): the poller drops the first
// and callers retry their I/O, so a backend never needs to be exact.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>

namespace weft {
enum class reactor_backend : unsigned char;  // weft/runtime.hpp
}

namespace weft::detail {

// What a registration hands back in each event: the fd and the serial of that
// registration, so an event for a closed and reused fd can be told apart.
struct io_token {
    int fd;
    std::uint32_t generation;  // the registration's serial (see fd_entry::serial)
};

inline std::uint64_t pack_token(io_token t) noexcept {
    return (static_cast<std::uint64_t>(t.generation) << 32) | static_cast<std::uint32_t>(t.fd);
}
inline io_token unpack_token(std::uint64_t v) noexcept {
    return io_token{static_cast<int>(static_cast<std::uint32_t>(v)), static_cast<std::uint32_t>(v >> 32)};
}

struct io_event {
    io_token token;
    bool readable;
    bool writable;
    bool error;  // error or hang-up: wakes both directions, the retried call reports it
};

class uring_reactor;

class reactor {
public:
    virtual ~reactor() = default;
    virtual const char* name() const noexcept = 0;
    // The io_uring backend, which can also carry I/O itself; nullptr for the others.
    virtual uring_reactor* as_uring() noexcept { return nullptr; }
    // Cancels every request the backend itself carries for fd (io_uring's
    // socket I/O); their completions follow. Any thread.
    virtual void cancel_io(int) noexcept {}

    virtual std::error_code add(io_token token) noexcept = 0;
    virtual void remove(int fd) noexcept = 0;
    virtual std::size_t poll(std::int64_t timeout_ns, io_event* out, std::size_t max) noexcept = 0;
    virtual void wake() noexcept = 0;

    // Kept by the poller, not by backends. `waiters`: fibers (of any worker)
    // waiting on fds registered here; the worker polls while there are any.
    // `homed`: fd table entries that name this backend (see release_reactor).
    std::atomic<std::int64_t> waiters{0};
    std::atomic<std::int64_t> homed{0};
};

// The platform's backend: on Linux io_uring where weft has it and the kernel
// allows it, else epoll (WEFT_REACTOR=io_uring|epoll, or the thread's choice
// below, decides; see platform_reactor.cpp); kqueue on the BSDs and macOS.
// Throws std::system_error if the kernel object cannot be created.
std::unique_ptr<reactor> make_platform_reactor();

// The backend the calling thread asks for when it makes a reactor
// (runtime_options::reactor, set by the runtime on its worker threads);
// automatic: the environment's or the platform's choice. Linux only.
reactor_backend thread_reactor_choice() noexcept;
void set_thread_reactor_choice(reactor_backend b) noexcept;

// A worker's backend. Throws std::system_error. release_reactor() destroys
// it once every fd table entry has forgotten it.
reactor* acquire_reactor();
void release_reactor(reactor* r) noexcept;

}  // namespace weft::detail
