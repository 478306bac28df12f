// io_uring backend (see uring_reactor.hpp).
//
// A multishot poll is edge-triggered (no IORING_POLL_ADD_LEVEL) and reports
// the state at arming, like an epoll registration: one request per fd serves
// every later wait. The kernel may end a multishot (no IORING_CQE_F_MORE on
// its last CQE, e.g. when the CQ ring overflowed); the fd is then armed
// again at the next poll, which reports whatever is ready by then.
//
// user_data: the low two bits say what a CQE is.
//   file:   a ring_op* (a parked fiber's file or socket call; aligned, so the bits are 0)
//   poll:   (registration << 32) | (fd << 2) | 1
//   ignore: 2 (POLL_REMOVE and ASYNC_CANCEL results)
//   wake:   3 (the eventfd read)
#include "reactor/uring_reactor.hpp"

#include "common/assert.hpp"
#include "sched/wait.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>

namespace weft::detail {

namespace {
constexpr std::uint64_t tag_poll = 1;
constexpr std::uint64_t tag_ignore = 2;
constexpr std::uint64_t tag_wake = 3;
constexpr unsigned poll_mask = POLLIN | POLLOUT | POLLRDHUP;
constexpr int max_fd = (1 << 30) - 1;  // fits the user_data above; the kernel's own limit is lower

constexpr std::uint64_t poll_data(int fd, std::uint32_t reg) noexcept {
    return (static_cast<std::uint64_t>(reg) << 32) | (static_cast<std::uint64_t>(fd) << 2) | tag_poll;
}

// Where the eventfd reads land. Never looked at; shared by every reactor,
// and static so that a read completing while a ring is torn down writes to
// memory that is still there.
std::uint64_t wake_sink[1];

// A file call in the ring. How its completion finds its fiber: the CQE's
// user_data is this block, on the parked fiber's stack; the poll that
// collects it stores res and ends the fiber's wait through the waiter,
// claim() and deliver(), like any other notifier of the wait primitive.
struct alignas(8) ring_op {
    waiter* w;
    int res;
    bool done;  // the CQE came (socket_op: it may have to outwait a cancel)
    unsigned flags = 0;  // the CQE's (IORING_CQE_F_BUFFER and its buffer id)
};
}  // namespace

uring_reactor::uring_reactor() {
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    p.cq_entries = 4096;  // multishot polls post one CQE per edge of every fd
    int rc = io_uring_queue_init_params(256, &ring_, &p);
    if (rc == -EINVAL) {  // a kernel before 5.19: no cooperative task running
        p = io_uring_params{};
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = 4096;
        rc = io_uring_queue_init_params(256, &ring_, &p);
    }
    if (rc < 0) throw std::system_error(-rc, std::generic_category(), "weft: io_uring_setup");
    // Blocking (no EFD_NONBLOCK): the ring's read of it then waits for a write.
    wakefd_ = ::eventfd(0, EFD_CLOEXEC);
    if (wakefd_ < 0) {
        const int err = errno;
        io_uring_queue_exit(&ring_);
        throw std::system_error(err, std::generic_category(), "weft: eventfd");
    }
    probe_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (probe_fd_ < 0) {
        const int err = errno;
        ::close(wakefd_);
        io_uring_queue_exit(&ring_);
        throw std::system_error(err, std::generic_category(), "weft: epoll_create1");
    }
}

uring_reactor::~uring_reactor() {
    io_uring_queue_exit(&ring_);  // every request ends: the provided buffers are ours again
    if (buf_ring_) {
        for (std::byte*& b : provided_bufs_) {
            if (b) give_(b);
            b = nullptr;
        }
        ::munmap(buf_ring_, buf_ring_bytes_);
    }
    ::close(wakefd_);
    ::close(probe_fd_);
}

uring_reactor::slot& uring_reactor::slot_of(int fd) {
    if (static_cast<std::size_t>(fd) >= slots_.size()) {
        std::size_t n = slots_.empty() ? 1024 : slots_.size();
        while (n <= static_cast<std::size_t>(fd)) n *= 2;
        slots_.resize(n);
    }
    return slots_[static_cast<std::size_t>(fd)];
}

void uring_reactor::mark(int fd, slot& s) noexcept {
    if (s.dirty) return;
    s.dirty = true;
    dirty_.push_back(fd);  // reserved by add(): cannot throw
}

std::error_code uring_reactor::add(io_token token) noexcept {
    const int fd = token.fd;
    if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
    if (fd > max_fd) return std::make_error_code(std::errc::invalid_argument);
    // What epoll_ctl would refuse, said now: the poll request itself is only
    // submitted at the next poll(), and a file that cannot be polled (a
    // regular file, a directory, /dev/null) is "ready" at once and ends
    // every multishot poll on it, so it would be reported ready forever.
    // Sockets and pipes always can be; anything else asks a private epoll
    // set (a character device, an eventfd: rare, and two syscalls more).
    struct stat st;
    if (::fstat(fd, &st) != 0) return std::error_code(errno, std::generic_category());
    if (!S_ISSOCK(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        epoll_event ev{};
        ev.events = EPOLLET;
        if (::epoll_ctl(probe_fd_, EPOLL_CTL_ADD, fd, &ev) == 0) {
            ::epoll_ctl(probe_fd_, EPOLL_CTL_DEL, fd, nullptr);
        } else if (errno != EEXIST) {  // EEXIST: another thread probes it right now
            return std::error_code(errno, std::generic_category());
        }
    }
    bool wake_it;
    {
        std::lock_guard<spinlock> lock(lock_);
        try {
            slot& s = slot_of(fd);
            if (!s.dirty) dirty_.reserve(dirty_.size() + 1);
            if (++next_reg_ == 0) ++next_reg_;
            s.want = next_reg_;
            s.generation = token.generation;
            s.short_lived = 0;
            mark(fd, s);
        } catch (const std::bad_alloc&) {
            return std::make_error_code(std::errc::not_enough_memory);
        }
        wake_it = in_wait_;
    }
    if (wake_it) wake();  // the polling thread sleeps: it must submit this
    return {};
}

void uring_reactor::remove(int fd) noexcept {
    if (fd < 0) return;
    std::lock_guard<spinlock> lock(lock_);  // wake() under it: a write to an eventfd
    if (static_cast<std::size_t>(fd) >= slots_.size()) return;
    slot& s = slots_[static_cast<std::size_t>(fd)];
    if (s.want == 0) return;
    s.want = 0;  // from now on its events are dropped
    if (s.armed == 0) return;
    // An armed poll holds the file: a socket closed now would stay open (no
    // FIN for its peer) until the request goes. The polling thread removes
    // it at once, as epoll_ctl would: the cancel's task work runs before this
    // io_uring_enter returns, so the caller's close() is the last reference.
    if (owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
        if (io_uring_sqe* sqe = next_sqe()) {
            io_uring_prep_poll_remove(sqe, poll_data(fd, s.armed));
            io_uring_sqe_set_data64(sqe, tag_ignore);
            s.armed = 0;
            io_uring_submit(&ring_);
            return;
        }
    }
    // Another thread: the polling thread removes it at its next poll, woken
    // if it sleeps (its events are dropped meanwhile).
    if (!s.dirty) {
        try {
            dirty_.push_back(fd);
            s.dirty = true;
        } catch (const std::bad_alloc&) {
            return;  // left armed until the fd is registered again (which replaces it) or the ring goes
        }
    }
    if (in_wait_) wake();
}

io_uring_sqe* uring_reactor::next_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {
        io_uring_submit(&ring_);  // SQ full: hand these to the kernel first
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

void uring_reactor::submit_changes() noexcept {
    for (std::size_t i = 0; i < dirty_.size(); ++i) {
        const int fd = dirty_[i];
        slot& s = slots_[static_cast<std::size_t>(fd)];
        if (s.armed != 0 && s.armed != s.want) {
            io_uring_sqe* sqe = next_sqe();
            if (!sqe) {  // cannot happen after a submit; try again next time
                std::copy(dirty_.begin() + static_cast<std::ptrdiff_t>(i), dirty_.end(), dirty_.begin());
                dirty_.resize(dirty_.size() - i);
                return;
            }
            io_uring_prep_poll_remove(sqe, poll_data(fd, s.armed));
            io_uring_sqe_set_data64(sqe, tag_ignore);
            s.armed = 0;
        }
        if (s.want != 0 && s.armed != s.want) {
            io_uring_sqe* sqe = next_sqe();
            if (!sqe) {
                std::copy(dirty_.begin() + static_cast<std::ptrdiff_t>(i), dirty_.end(), dirty_.begin());
                dirty_.resize(dirty_.size() - i);
                return;
            }
            io_uring_prep_poll_multishot(sqe, fd, poll_mask);
            io_uring_sqe_set_data64(sqe, poll_data(fd, s.want));
            s.armed = s.want;
        }
        s.dirty = false;
    }
    dirty_.clear();
}

std::size_t uring_reactor::poll(std::int64_t timeout_ns, io_event* out, std::size_t max) noexcept {
    if (owner_.load(std::memory_order_relaxed) != std::this_thread::get_id())
        owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    for (;;) {
        {
            std::lock_guard<spinlock> lock(lock_);
            submit_changes();
            for (std::size_t i = 0; i < cancels_.size(); ++i) {
                io_uring_sqe* sqe = next_sqe();
                if (!sqe) {  // cannot happen after a submit; the rest next time
                    cancels_.erase(cancels_.begin(), cancels_.begin() + static_cast<std::ptrdiff_t>(i));
                    break;
                }
                io_uring_prep_cancel_fd(sqe, cancels_[i], IORING_ASYNC_CANCEL_ALL);
                io_uring_sqe_set_data64(sqe, tag_ignore);
                if (i + 1 == cancels_.size()) cancels_.clear();
            }
            if (!wake_armed_) {
                if (io_uring_sqe* sqe = next_sqe()) {
                    io_uring_prep_read(sqe, wakefd_, wake_sink, sizeof wake_sink, 0);
                    io_uring_sqe_set_data64(sqe, tag_wake);
                    wake_armed_ = true;
                }
            }
            in_wait_ = timeout_ns != 0;
        }
        // One io_uring_enter: what was queued, and the wait.
        if (io_uring_cq_ready(&ring_) > 0 || timeout_ns == 0) {
            io_uring_submit_and_get_events(&ring_);
        } else if (timeout_ns < 0) {
            io_uring_submit_and_wait(&ring_, 1);
        } else {
            __kernel_timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
            io_uring_cqe* cqe = nullptr;
            io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
        }
        {
            std::lock_guard<spinlock> lock(lock_);
            in_wait_ = false;
        }

        std::size_t k = 0;
        bool woke = false;
        unsigned seen = 0;
        constexpr std::size_t max_done = 64;
        wake_target done[max_done];
        std::size_t ndone = 0;
        {
            std::lock_guard<spinlock> lock(lock_);
            unsigned head;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                const std::uint64_t data = cqe->user_data;
                const std::uint64_t tag = data & 3;
                if (tag == 0) {
                    if (ndone == max_done) break;  // the rest next time
                    auto* op = reinterpret_cast<ring_op*>(static_cast<std::uintptr_t>(data));
                    op->res = cqe->res;
                    op->flags = cqe->flags;
                    op->done = true;
                    // Always claimed: a file call has no deadline, and a socket
                    // call that gave up waits on a second waiter (socket_op).
                    if (claim(*op->w, done[ndone])) ++ndone;
                } else if (tag == tag_wake) {
                    wake_armed_ = false;
                    woke = true;
                } else if (tag == tag_poll) {
                    const int fd = static_cast<int>((data & 0xffffffffu) >> 2);
                    const auto reg = static_cast<std::uint32_t>(data >> 32);
                    slot* s = static_cast<std::size_t>(fd) < slots_.size() ? &slots_[static_cast<std::size_t>(fd)]
                                                                           : nullptr;
                    if (s && s->want == reg) {
                        if (k == max) break;  // left in the ring for the next poll
                        const int res = cqe->res;
                        if (res >= 0) {
                            const auto e = static_cast<unsigned>(res);
                            out[k++] = io_event{io_token{fd, s->generation}, (e & (POLLIN | POLLRDHUP)) != 0,
                                                (e & POLLOUT) != 0, (e & (POLLERR | POLLHUP)) != 0};
                        } else if (res != -ECANCELED && res != -ENOENT) {
                            // The request failed (the fd was closed before it
                            // was submitted, say): its waiters retry and see why.
                            out[k++] = io_event{io_token{fd, s->generation}, true, true, true};
                        }
                        if (cqe->flags & IORING_CQE_F_MORE) {
                            s->short_lived = 0;
                        } else if (s->armed == reg) {
                            // The kernel ended the request (a CQ overflow,
                            // say): arm it again, unless it failed (its
                            // waiters were told above) or it keeps ending at
                            // once (a file that cannot hold a poll: arming it
                            // again would report it ready at every poll).
                            s->armed = 0;
                            if (res >= 0 && s->short_lived++ < 2) {
                                try {
                                    if (!s->dirty) dirty_.reserve(dirty_.size() + 1);
                                    mark(fd, *s);
                                } catch (const std::bad_alloc&) {
                                }
                            }
                        }
                    } else if (s && !(cqe->flags & IORING_CQE_F_MORE) && s->armed == reg) {
                        s->armed = 0;  // a request replaced since ended by itself: nothing to remove
                    }
                }
                ++seen;
            }
        }
        io_uring_cq_advance(&ring_, seen);
        if (ndone > 0) {
            waiters.fetch_sub(static_cast<std::int64_t>(ndone), std::memory_order_relaxed);
            for (std::size_t i = 0; i < ndone; ++i) deliver(done[i]);
            if (k == 0) return 0;  // a woken fiber is work: go and run it
        }
        // Only dropped CQEs: a wait without end waits again; one with a
        // timeout returns early (its caller recomputes the timeout anyway).
        if (k > 0 || woke || timeout_ns >= 0 || seen == 0) return k;  // seen == 0: a signal
    }
}

int uring_reactor::file_op(file_opcode op, int fd, void* data, unsigned size, std::uint64_t offset) {
    waiter w;
    std::int64_t d = no_deadline;
    prepare_wait(w, d, /*cancelable=*/false, /*honour_scope=*/false);  // not cancelable: the kernel has our buffer
    ring_op o{&w, 0, false};
    {
        std::lock_guard<spinlock> lock(lock_);
        io_uring_sqe* sqe = next_sqe();
        if (!sqe) return no_sqe;  // the ring takes nothing now: the caller offloads it
        switch (op) {
            case file_opcode::read: io_uring_prep_read(sqe, fd, data, size, offset); break;
            case file_opcode::write: io_uring_prep_write(sqe, fd, data, size, offset); break;
            case file_opcode::readv: io_uring_prep_readv(sqe, fd, static_cast<const iovec*>(data), size, offset); break;
            case file_opcode::writev: io_uring_prep_writev(sqe, fd, static_cast<const iovec*>(data), size, offset); break;
            case file_opcode::fsync: io_uring_prep_fsync(sqe, fd, 0); break;
            case file_opcode::openat:
                io_uring_prep_openat(sqe, AT_FDCWD, static_cast<const char*>(data), static_cast<int>(size),
                                     static_cast<mode_t>(offset));
                break;
            case file_opcode::close: io_uring_prep_close(sqe, fd); break;
            case file_opcode::statx:
                io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH, STATX_SIZE, static_cast<struct statx*>(data));
                break;
        }
        io_uring_sqe_set_data(sqe, &o);
        // Only this worker's poll, after this fiber parks, can end the wait.
        arm(w, wait_reason::offload);
    }
    waiters.fetch_add(1, std::memory_order_relaxed);  // the worker polls while this is out
    block(w, no_deadline, /*cancelable=*/false);
    return o.res;
}

int uring_reactor::socket_op(socket_opcode op, int fd, void* data, unsigned size, std::int64_t deadline_ns,
                             wait_outcome& ended) {
    unsigned flags = 0;
    return socket_request(op, fd, data, size, deadline_ns, ended, false, flags);
}

bool uring_reactor::provide_buffers(buffer_take take, buffer_give give, unsigned size) noexcept {
    if (provided_ == provided_state::ready) return take == take_ && give == give_ && size == buf_size_;
    if (provided_ == provided_state::unsupported) return false;
    provided_ = provided_state::unsupported;
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t bytes = (provided_max * sizeof(io_uring_buf) + page - 1) / page * page;
    void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return false;
    auto* br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(mem);
    reg.ring_entries = provided_max;
    reg.bgid = 0;
    if (io_uring_register_buf_ring(&ring_, &reg, 0) != 0) {  // before 5.19: EINVAL
        ::munmap(mem, bytes);
        return false;
    }
    buf_ring_ = br;
    buf_ring_bytes_ = bytes;
    take_ = take;
    give_ = give;
    buf_size_ = size;
    provided_ = provided_state::ready;
    refill_provided();
    return true;
}

void uring_reactor::refill_provided() noexcept {
    const int mask = io_uring_buf_ring_mask(provided_max);
    int added = 0;
    for (unsigned bid = 0; bid < provided_target_; ++bid) {
        if (provided_bufs_[bid]) continue;
        std::byte* b = take_();
        if (!b) break;
        provided_bufs_[bid] = b;
        io_uring_buf_ring_add(buf_ring_, b, buf_size_, static_cast<unsigned short>(bid), mask, added++);
    }
    if (added) io_uring_buf_ring_advance(buf_ring_, added);
}

int uring_reactor::recv_provided(int fd, std::int64_t deadline_ns, wait_outcome& ended, std::byte*& got) {
    got = nullptr;
    ended = wait_outcome::waiting;
    if (provided_ != provided_state::ready) return no_sqe;
    unsigned flags = 0;
    const int res = socket_request(socket_opcode::recv, fd, nullptr, buf_size_, deadline_ns, ended, true, flags);
    if (flags & IORING_CQE_F_BUFFER) {
        const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        WEFT_ASSERT(bid < provided_max && provided_bufs_[bid], "io_uring returned a buffer it was not given");
        std::byte* b = provided_bufs_[bid];
        provided_bufs_[bid] = nullptr;
        if (res > 0) got = b;
        else give_(b);
    }
    if (res == -ENOBUFS && provided_target_ < provided_max) provided_target_ *= 2;
    refill_provided();  // the slot just lent out, new ones, and any a failed take left empty
    return res;
}

int uring_reactor::accept_op(int fd, sockaddr* peer, socklen_t* peer_len, std::int64_t deadline_ns,
                             wait_outcome& ended) {
    unsigned flags = 0;
    return socket_request(socket_opcode::accept, fd, peer, 0, deadline_ns, ended, false, flags, peer_len);
}

int uring_reactor::socket_request(socket_opcode op, int fd, void* data, unsigned size, std::int64_t deadline_ns,
                                  wait_outcome& ended, bool select, unsigned& cqe_flags, socklen_t* peer_len) {
    ended = wait_outcome::waiting;
    waiter w;
    std::int64_t d = deadline_ns;
    if (prepare_wait(w, d, /*cancelable=*/true) != wait_outcome::waiting) return no_sqe;  // the caller's own path says why
    ring_op o{&w, 0, false};
    const wait_reason why = op == socket_opcode::send ? wait_reason::fd_write : wait_reason::fd_read;
    {
        std::lock_guard<spinlock> lock(lock_);
        io_uring_sqe* sqe = next_sqe();
        if (!sqe) return no_sqe;
        if (op == socket_opcode::recv) {
            io_uring_prep_recv(sqe, fd, data, size, 0);
            if (select) {
                sqe->flags |= IOSQE_BUFFER_SELECT;
                sqe->buf_group = 0;
            }
        } else if (op == socket_opcode::send) {
            io_uring_prep_send(sqe, fd, data, size, MSG_NOSIGNAL);
        } else {
            io_uring_prep_accept(sqe, fd, static_cast<sockaddr*>(data), peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        }
        io_uring_sqe_set_data(sqe, &o);
        arm(w, why);
        w.f->wait_fd = fd;
    }
    waiters.fetch_add(1, std::memory_order_relaxed);  // the worker polls while this is out
    const wait_outcome r = block(w, d, /*cancelable=*/true);
    if (r == wait_outcome::notified) {
        cqe_flags = o.flags;
        return o.res;
    }
    ended = r;
    if (!o.done) {
        // The kernel still holds the buffer: take the request back, and wait
        // (not cancelable) for its CQE, which says what it did meanwhile.
        waiter w2;
        std::int64_t none = no_deadline;
        prepare_wait(w2, none, /*cancelable=*/false, /*honour_scope=*/false);
        {
            std::lock_guard<spinlock> lock(lock_);
            arm(w2, why);
            o.w = &w2;
            if (io_uring_sqe* sqe = next_sqe()) {
                io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&o), 0);
                io_uring_sqe_set_data64(sqe, tag_ignore);
            }  // no room even after a submit: the request ends by itself (data, or a close's cancel)
        }
        block(w2, no_deadline, /*cancelable=*/false);
    }
    cqe_flags = o.flags;
    return o.res;
}

void uring_reactor::cancel_io(int fd) noexcept {
    std::lock_guard<spinlock> lock(lock_);
    try {
        cancels_.push_back(fd);
    } catch (const std::bad_alloc&) {
        return;  // the requests end by themselves (data, or the peer's close)
    }
    if (in_wait_ || owner_.load(std::memory_order_relaxed) != std::this_thread::get_id()) wake();
}

void uring_reactor::wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wakefd_, &one, sizeof one);
}

}  // namespace weft::detail
