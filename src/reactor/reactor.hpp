// Readiness notification: the interface every backend (epoll, kqueue) implements.
// A worker owns one; fibers park on fds through the worker, never through this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>

namespace weft::detail {

// What a registration hands back in each event: the fd and the generation of
// its record, so an event for a closed and reused fd can be told apart.
struct io_token {
    int fd;
    std::uint32_t generation;
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

class reactor {
public:
    virtual ~reactor() = default;
    virtual const char* name() const noexcept = 0;

    // Registers fd once for edge-triggered read and write readiness.
    virtual std::error_code add(io_token token) noexcept = 0;
    // Forgets fd; called before close. Errors are ignored: the fd may be gone already.
    virtual void remove(int fd) noexcept = 0;
    // Waits up to timeout_ns (< 0: forever, 0: just look) and stores up to max
    // events; returns how many. Interrupted waits return 0.
    virtual std::size_t poll(std::int64_t timeout_ns, io_event* out, std::size_t max) noexcept = 0;
    // Makes a poll in progress, or the next one, return; safe from any thread.
    virtual void wake() noexcept = 0;
};

// The platform's backend: epoll on Linux, kqueue on the BSDs and macOS.
// Throws std::system_error if the kernel object cannot be created.
std::unique_ptr<reactor> make_platform_reactor();

}  // namespace weft::detail
