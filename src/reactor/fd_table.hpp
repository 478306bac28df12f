// The one process-wide descriptor table: what weft knows of each fd, shared
// by the poller (waits, registrations) and the hooks (the caller's view of
// the fd). Indexed by fd number, in lazily allocated pages that never move,
// so lookups take no lock.
#pragma once

#include <atomic>
#include <cstdint>

#include "weft/detail/wait_queue.hpp"

namespace weft::detail {

class reactor;

// Flags the hooks keep in fd_entry::flags.
namespace fd_flag {
inline constexpr std::uint32_t known = 1;          // classified: no need to look at the kernel again
inline constexpr std::uint32_t managed = 2;        // O_NONBLOCK set by the hooks (listeners), not by the caller
inline constexpr std::uint32_t user_nonblock = 4;  // the caller set O_NONBLOCK (or FIONBIO) itself
// A socket left blocking: the kernel's fd stays blocking (stdio and other
// calls that bypass the hooks see what the caller made), and each hooked
// call from a fiber is made non-blocking on its own (MSG_DONTWAIT).
inline constexpr std::uint32_t per_call = 8;
// With per_call: a pipe or FIFO, whose calls are made non-blocking with
// preadv2/pwritev2(RWF_NOWAIT) instead.
inline constexpr std::uint32_t pipe = 16;
// A regular file or block device left blocking: readiness means nothing for
// it; a fiber's read/write/pread/pwrite/readv/writev on it goes through the
// worker's io_uring where the worker has one (weft::fs's calls), else inline.
inline constexpr std::uint32_t file = 32;
// A tty or another character device that can block, left blocking (the
// never-blocking memory devices, /dev/null and the like, are not): a fiber's
// read on it goes through the worker's io_uring, or parks on readiness on an
// epoll worker; a write parks only while the device is not writable.
inline constexpr std::uint32_t chardev = 64;
}  // namespace fd_flag

struct fd_entry {
    // ---- the poller's part, guarded by `lock` ----
    spinlock lock;
    bool open = false;        // attached by weft and not closed through it since
    bool registered = false;  // `home` holds a registration with `serial`
    // Bumped by attach and close: a waiter that finds it changed when it
    // wakes was closed under (bad_file_descriptor).
    std::uint32_t generation = 0;
    std::uint32_t serial = 0;   // bumped by every backend registration; events carry it
    std::uint32_t nwaiters = 0;  // in both lists; counted in home->waiters too
    reactor* home = nullptr;
    wait_list waiters[2];        // [0] read, [1] write; FIFO
    // Bumped by every readiness event in that direction (written under the
    // lock, read without it): a waiter that took a ticket before its I/O
    // attempt and finds it changed does not park, so no event is lost
    // between an EAGAIN and the park.
    std::atomic<std::uint32_t> ready_seq[2] = {};
    // Socket I/O in flight in an io_uring (net's ring path), all in `ring`:
    // a close while there is any is deferred to the end of the last one, so
    // the kernel's requests never outlive the file or see its number reused.
    std::uint32_t ring_ops = 0;
    reactor* ring = nullptr;
    bool close_deferred = false;

    // ---- the hooks' part: atomics, read and written by any thread ----
    std::atomic<std::uint32_t> flags{0};           // fd_flag bits
    std::atomic<std::int64_t> recv_timeout_ns{0};  // SO_RCVTIMEO, 0: none
    std::atomic<std::int64_t> send_timeout_ns{0};  // SO_SNDTIMEO, 0: none

    // Blocking as the caller sees it, non-blocking underneath or per call: the hooks wait.
    static bool hooks_wait(std::uint32_t f) noexcept {
        return (f & (fd_flag::managed | fd_flag::per_call)) != 0 && (f & fd_flag::user_nonblock) == 0;
    }
    void reset(std::uint32_t f) noexcept {
        recv_timeout_ns.store(0, std::memory_order_relaxed);
        send_timeout_ns.store(0, std::memory_order_relaxed);
        flags.store(f, std::memory_order_release);
    }
    // dup: the new fd shares the open file description, so O_NONBLOCK and the
    // socket options are shared; waits and registrations are per fd number.
    void copy_from(const fd_entry& o) noexcept {
        recv_timeout_ns.store(o.recv_timeout_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
        send_timeout_ns.store(o.send_timeout_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
        flags.store(o.flags.load(std::memory_order_acquire), std::memory_order_release);
    }
};

class fd_table {
public:
    static constexpr int page_bits = 10;
    static constexpr int pages = 1 << 12;
    static constexpr int max_fd = (pages << page_bits) - 1;  // 4M fds; beyond: not tracked

    // The fd's entry, or nullptr if its page was never made (or fd is out of range).
    static fd_entry* find(int fd) noexcept {
        if (fd < 0 || fd > max_fd) return nullptr;
        fd_entry* page = pages_[fd >> page_bits].load(std::memory_order_acquire);
        return page ? &page[fd & ((1 << page_bits) - 1)] : nullptr;
    }
    // Makes the page on first use; nullptr only out of range or out of memory.
    static fd_entry* get(int fd) noexcept;
    // Calls fn(fd, entry) for every entry of every page made so far.
    template <class Fn>
    static void for_each(Fn fn) {
        for (int p = 0; p < pages; ++p) {
            fd_entry* page = pages_[p].load(std::memory_order_acquire);
            if (!page) continue;
            for (int i = 0; i < (1 << page_bits); ++i) fn((p << page_bits) | i, page[i]);
        }
    }

private:
    static std::atomic<fd_entry*> pages_[pages];
};

}  // namespace weft::detail
