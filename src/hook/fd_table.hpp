// Per-fd state of the hooks, indexed by fd: whether the hooks made the fd
// non-blocking underneath, what the caller asked for, its socket timeouts.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::detail {

class worker;

namespace fd_flag {
inline constexpr std::uint32_t known = 1;          // classified: no need to look at the kernel again
inline constexpr std::uint32_t managed = 2;        // O_NONBLOCK set by the hooks, not by the caller
inline constexpr std::uint32_t user_nonblock = 4;  // the caller set O_NONBLOCK (or FIONBIO) itself
inline constexpr std::uint32_t registered = 8;     // registered with `owner`'s reactor by the hooks
}  // namespace fd_flag

// Every field is atomic: hooks run on any thread, and a worker reads what
// another thread's close() or fcntl() wrote.
struct fd_state {
    std::atomic<std::uint32_t> flags{0};
    std::atomic<std::int64_t> recv_timeout_ns{0};  // SO_RCVTIMEO, 0: none
    std::atomic<std::int64_t> send_timeout_ns{0};  // SO_SNDTIMEO, 0: none
    std::atomic<worker*> owner{nullptr};           // whose reactor holds the registration

    // Blocking as the caller sees it, non-blocking underneath: the hooks wait.
    static bool hooks_wait(std::uint32_t f) noexcept {
        return (f & (fd_flag::managed | fd_flag::user_nonblock)) == fd_flag::managed;
    }
    void reset(std::uint32_t f) noexcept {
        recv_timeout_ns.store(0, std::memory_order_relaxed);
        send_timeout_ns.store(0, std::memory_order_relaxed);
        owner.store(nullptr, std::memory_order_relaxed);
        flags.store(f, std::memory_order_release);
    }
    // dup: the new fd shares the open file description, so O_NONBLOCK and the
    // socket options are shared; the reactor registration is per fd number.
    void copy_from(const fd_state& o) noexcept {
        recv_timeout_ns.store(o.recv_timeout_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
        send_timeout_ns.store(o.send_timeout_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
        owner.store(nullptr, std::memory_order_relaxed);
        flags.store(o.flags.load(std::memory_order_acquire) & ~fd_flag::registered, std::memory_order_release);
    }
};

// Two levels of lazily allocated pages, so lookups never take a lock and
// entries never move. fds beyond max_fd are not tracked: their hooks pass through.
class fd_table {
public:
    static constexpr int page_bits = 10;
    static constexpr int pages = 1 << 12;
    static constexpr int max_fd = (pages << page_bits) - 1;  // 4M fds

    // The fd's state, or nullptr if none was ever recorded (or fd is out of range).
    static fd_state* find(int fd) noexcept {
        if (fd < 0 || fd > max_fd) return nullptr;
        fd_state* page = pages_[fd >> page_bits].load(std::memory_order_acquire);
        return page ? &page[fd & ((1 << page_bits) - 1)] : nullptr;
    }
    // Allocates the page on first use; nullptr only out of range or out of memory.
    static fd_state* get(int fd) noexcept;

private:
    static std::atomic<fd_state*> pages_[pages];
};

}  // namespace weft::detail
