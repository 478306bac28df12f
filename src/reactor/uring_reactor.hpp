// io_uring backend (liburing): one multishot IORING_OP_POLL_ADD per fd for
// readiness, an eventfd read kept pending in the ring for wake().
//
// add() and remove() may come from any thread, but only the thread that
// polls submits: they record what each fd should be registered as, under a
// small lock, and the next poll() turns every change since the last one into
// SQEs (a POLL_REMOVE of the old request, a POLL_ADD of the new) and submits
// them together with its wait, in one io_uring_enter. (A remove() on the
// polling thread submits at once: an armed poll keeps its file open.) Events are checked
// against that record when they are collected, so an event of a request
// removed (or replaced) since is dropped even if the kernel posted it first.
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "reactor/reactor.hpp"
#include "sched/wait.hpp"
#include "weft/detail/wait_queue.hpp"

namespace weft::detail {

class uring_reactor;
// The calling fiber's worker's ring; nullptr on a plain thread, a worker on
// another backend, or when the reactor cannot be made (the caller's other
// path then runs and reports it). Defined in uring_file.cpp.
uring_reactor* fiber_uring() noexcept;

class uring_reactor final : public reactor {
public:
    uring_reactor();  // throws std::system_error (io_uring_setup's errno: ENOSYS, EPERM, ...)
    ~uring_reactor() override;
    const char* name() const noexcept override { return "io_uring"; }
    std::error_code add(io_token token) noexcept override;
    void remove(int fd) noexcept override;
    std::size_t poll(std::int64_t timeout_ns, io_event* out, std::size_t max) noexcept override;
    void wake() noexcept override;

    // One file call of the calling fiber (which runs on the worker that
    // polls this ring) as an SQE: IORING_OP_READ / WRITE (offset -1: at the
    // file position), READV / WRITEV (data: the iovecs, size: their count)
    // or FSYNC. Parks the fiber until the worker's poll
    // collects the CQE; returns its res (bytes, or -errno). The SQE goes out
    // with the worker's next poll, batched with everything else it submits.
    // Also the calls around the data: OPENAT (data: the path, size: the
    // O_ flags, offset: the mode; relative to the working directory),
    // CLOSE (fd) and STATX of fd itself (data: a struct statx, STATX_SIZE).
    enum class file_opcode : std::uint8_t { read, write, readv, writev, fsync, openat, close, statx };
    static constexpr int no_sqe = -(1 << 30);  // file_op, socket_op: no room in the ring, nothing done
    int file_op(file_opcode op, int fd, void* data, unsigned size, std::uint64_t offset);

    // A receive or send of the calling fiber on a socket as an SQE
    // (IORING_OP_RECV / SEND, MSG_NOSIGNAL), submitted with the worker's next
    // poll: no attempt that ends in EAGAIN, and one io_uring_enter for every
    // request of a loop turn. Parks the fiber until the CQE, the steady
    // deadline or cancel(). When the deadline or cancel comes first the
    // request is canceled in the kernel and its CQE still awaited, so the
    // buffer is the caller's again on return and bytes already moved are not
    // lost: the result is then what the kernel did (bytes, or -ECANCELED),
    // and `ended` says why the wait ended early (`waiting`: it did not).
    enum class socket_opcode : std::uint8_t { recv, send, accept };
    int socket_op(socket_opcode op, int fd, void* data, unsigned size, std::int64_t deadline_ns,
                  wait_outcome& ended);

    // An accept of the calling fiber on a listening socket as one
    // IORING_OP_ACCEPT (SOCK_NONBLOCK | SOCK_CLOEXEC), with socket_op's
    // deadline, cancel and result rules: the new fd (also when the wait
    // ended early but the kernel had accepted: the connection is the
    // caller's), or -errno. `peer`/`peer_len` as accept4's, may be null.
    // One request per parked acceptor, not a multishot accept: a multishot
    // accepts for nobody until the ring is reaped (the listen backlog stops
    // holding connections back, and a connection accepted after the last
    // acceptor left is hidden from every other worker's accept), and the
    // listener's close would take effect only at its worker's next poll.
    int accept_op(int fd, sockaddr* peer, socklen_t* peer_len, std::int64_t deadline_ns, wait_outcome& ended);

    // Receives into provided buffers (IORING_OP_RECV with IOSQE_BUFFER_SELECT
    // on a registered buffer ring): the kernel picks a buffer only when data
    // arrives, so a receive pending on an idle socket holds none. The ring
    // starts with provided_start buffers of `size` bytes and doubles them,
    // up to provided_max, each time a receive found them all lent out (as
    // many as the receives that complete together need: a worker's peak,
    // kept). They come from `take` (which may return nullptr: the slot
    // stays empty until the next call) and go back through `give` when a
    // receive moved nothing or the ring ends. Set up at the first call of
    // the ring's thread; false (and nothing set up) where the kernel has no
    // buffer rings. Thread of the worker that polls this ring only.
    using buffer_take = std::byte* (*)() noexcept;
    using buffer_give = void (*)(std::byte*) noexcept;
    bool provide_buffers(buffer_take take, buffer_give give, unsigned size) noexcept;
    // One receive of the calling fiber into a provided buffer, with
    // socket_op's deadline, cancel and result rules; `got` is the buffer
    // that holds res > 0 bytes (now the caller's), else nullptr. -ENOBUFS:
    // every buffer of the ring was in use, nothing was received (the next
    // refill adds more).
    int recv_provided(int fd, std::int64_t deadline_ns, wait_outcome& ended, std::byte*& got);
    static constexpr unsigned provided_start = 16;
    static constexpr unsigned provided_max = 256;

    uring_reactor* as_uring() noexcept override { return this; }
    void cancel_io(int fd) noexcept override;

private:
    int socket_request(socket_opcode op, int fd, void* data, unsigned size, std::int64_t deadline_ns,
                       wait_outcome& ended, bool select, unsigned& cqe_flags, socklen_t* peer_len = nullptr);
    void refill_provided() noexcept;  // puts a buffer into every empty slot it can

    // The provided-buffer ring (buffer group 0), owner thread only.
    enum class provided_state : std::uint8_t { unset, ready, unsupported };
    provided_state provided_ = provided_state::unset;
    io_uring_buf_ring* buf_ring_ = nullptr;
    std::size_t buf_ring_bytes_ = 0;
    std::byte* provided_bufs_[provided_max] = {};  // by buffer id; nullptr: empty or lent out
    unsigned provided_target_ = provided_start;      // buffer ids in use: [0, provided_target_)
    buffer_take take_ = nullptr;
    buffer_give give_ = nullptr;
    unsigned buf_size_ = 0;

    // What one fd number is registered as. `want`: the current registration
    // (a reactor-wide serial, 0: none), as add/remove left it; `armed`: the
    // request in the kernel (0: none), as the polling thread last submitted it.
    struct slot {
        std::uint32_t want = 0;
        std::uint32_t armed = 0;
        std::uint32_t generation = 0;  // the token's, reported with each event
        bool dirty = false;            // listed in dirty_
        // Requests for this registration the kernel ended at their first CQE,
        // in a row (none stayed armed past a CQE: no IORING_CQE_F_MORE).
        std::uint8_t short_lived = 0;
    };
    slot& slot_of(int fd);                 // under lock_; grows slots_ (may throw bad_alloc)
    void mark(int fd, slot& s) noexcept;   // under lock_
    io_uring_sqe* next_sqe() noexcept;     // under lock_, polling thread
    void submit_changes() noexcept;        // under lock_, polling thread

    io_uring ring_{};
    int wakefd_ = -1;
    int probe_fd_ = -1;        // an epoll set add() asks whether an fd can be polled at all
    bool wake_armed_ = false;  // an eventfd read is pending in the ring (polling thread only)
    std::atomic<std::thread::id> owner_{};  // the thread that polls (the last one that did)

    spinlock lock_;  // guards everything below
    std::vector<slot> slots_;
    std::vector<int> dirty_;     // fds whose want differs from what was submitted
    std::vector<int> cancels_;   // fds whose requests the next poll cancels
    std::uint32_t next_reg_ = 0;
    bool in_wait_ = false;       // the polling thread sleeps in the kernel: changes must wake it
};

}  // namespace weft::detail
