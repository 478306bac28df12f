// The poller (see poller.hpp) and the pool of reactor backends.
#include "reactor/poller.hpp"

#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <fcntl.h>

#include <new>

#include "common/assert.hpp"
#include "sched/wait.hpp"
#include "weft/runtime.hpp"

namespace weft::detail {

// ---- the fd table's pages ------------------------------------------------------

std::atomic<fd_entry*> fd_table::pages_[fd_table::pages];

fd_entry* fd_table::get(int fd) noexcept {
    if (fd < 0 || fd > max_fd) return nullptr;
    std::atomic<fd_entry*>& slot = pages_[fd >> page_bits];
    fd_entry* page = slot.load(std::memory_order_acquire);
    if (!page) {
        auto* fresh = new (std::nothrow) fd_entry[1 << page_bits];
        if (!fresh) return nullptr;
        if (slot.compare_exchange_strong(page, fresh, std::memory_order_acq_rel)) {
            page = fresh;
        } else {
            delete[] fresh;  // another thread won; `page` now holds its page
        }
    }
    return &page[fd & ((1 << page_bits) - 1)];
}

// ---- helpers, all under the entry's lock -------------------------------------

namespace {
// The counters below change on every wait. While the process has one thread
// nobody else can look at them: a plain read and write, not a locked
// instruction (as weft's spinlock does).
template <class T>
void add(std::atomic<T>& a, T d, std::memory_order order = std::memory_order_relaxed) noexcept {
    if (process_single_threaded()) a.store(a.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
    else a.fetch_add(d, order);
}
// Claims waiters of one direction in batches and delivers each batch with
// the entry unlocked (a delivery may take another worker's queue lock).
// Called and returns with e.lock held.
template <class Each>
void wake_list(fd_entry& e, int dir, Each each) noexcept {
    constexpr std::size_t batch = 32;
    wake_target t[batch];
    for (;;) {
        std::size_t k = 0;
        while (k < batch) {
            waiter* w = e.waiters[dir].pop_front();
            if (!w) break;
            --e.nwaiters;
            add(e.home->waiters, -static_cast<std::int64_t>(1));
            if (claim(*w, t[k])) ++k;  // else it timed out or was canceled, and leaves by itself
        }
        if (k == 0) return;
        e.lock.unlock();
        for (std::size_t i = 0; i < k; ++i) deliver(t[i]);
        e.lock.lock();
        if (!each()) return;
    }
}

void drop_registration(int fd, fd_entry& e) noexcept {
    if (!e.registered) return;
    e.home->remove(fd);
    e.registered = false;
}

// The entry names no backend any more; its lists are empty.
void leave_home(fd_entry& e) noexcept {
    if (!e.home) return;
    add(e.home->homed, -static_cast<std::int64_t>(1));
    e.home = nullptr;
}

// Under e.lock: the file is gone; wake everyone with bad_file_descriptor.
void close_locked(int fd, fd_entry& e) noexcept {
    ++e.generation;
    drop_registration(fd, e);
    for (int dir = 0; dir < 2; ++dir) wake_list(e, dir, [] { return true; });
    if (e.nwaiters == 0) leave_home(e);  // else waiters that linked meanwhile keep it
}

// Under e.lock: registers fd with `to` (the waiting fiber's worker), moving it
// from its old home, whose events for it are stale from now on.
std::error_code rehome(int fd, fd_entry& e, reactor* to) noexcept {
    drop_registration(fd, e);
    if (e.home != to) {
        if (e.home) {
            add(e.home->waiters, -static_cast<std::int64_t>(e.nwaiters));
            add(e.home->homed, -static_cast<std::int64_t>(1));
        }
        add(to->waiters, static_cast<std::int64_t>(e.nwaiters));
        add(to->homed, static_cast<std::int64_t>(1));
        e.home = to;
    }
    ++e.serial;
    if (std::error_code ec = to->add(io_token{fd, e.serial})) return ec;
    e.registered = true;
    return {};
}
}  // namespace

// ---- backends of workers ----------------------------------------------------------

namespace {
thread_local reactor_backend thread_choice = reactor_backend::automatic;
}
reactor_backend thread_reactor_choice() noexcept { return thread_choice; }
void set_thread_reactor_choice(reactor_backend b) noexcept { thread_choice = b; }

reactor* acquire_reactor() { return make_platform_reactor().release(); }

void release_reactor(reactor* r) noexcept {
    // Entries that still name r (fds left open, or waiters of other threads
    // on fds registered here) forget it: their waiters wake to retry, and
    // their next wait registers the fd with the waiter's own worker.
    if (r->homed.load(std::memory_order_acquire) > 0) {
        fd_table::for_each([r](int fd, fd_entry& e) {
            if (e.home != r) return;  // a racy peek; checked again under the lock
            std::lock_guard<spinlock> lock(e.lock);
            if (e.home != r) return;
            drop_registration(fd, e);
            for (int dir = 0; dir < 2; ++dir) wake_list(e, dir, [&] { return e.home == r; });
            if (e.home == r) {
                add(r->waiters, -static_cast<std::int64_t>(e.nwaiters));
                leave_home(e);
            }
        });
    }
    delete r;
}

// ---- attach, wait, detach, dispatch -----------------------------------------------

std::error_code fd_attach(int fd) noexcept {
    fd_entry* e = fd_table::get(fd);
    if (!e) return std::make_error_code(fd < 0 ? std::errc::bad_file_descriptor : std::errc::not_enough_memory);
    std::lock_guard<spinlock> lock(e->lock);
    close_locked(fd, *e);  // whatever weft knew of an earlier file of that number
    e->open = true;
    return {};
}

bool fd_attached(int fd) noexcept {
    fd_entry* e = fd_table::find(fd);
    if (!e) return false;
    std::lock_guard<spinlock> lock(e->lock);
    return e->open;
}

void fd_detach(int fd) noexcept {
    fd_entry* e = fd_table::find(fd);
    if (!e) return;
    std::lock_guard<spinlock> lock(e->lock);
    if (!e->open && !e->registered && e->nwaiters == 0) return;
    e->open = false;
    close_locked(fd, *e);
}

void fd_forget(int fd) noexcept {
    fd_entry* e = fd_table::find(fd);
    if (!e) return;
    e->reset(0);
    fd_detach(fd);
}

namespace {
// close(2) itself: with weft::hook linked, ::close would detach the fd again.
void close_file(int fd) noexcept {
#if defined(__linux__)
    ::syscall(SYS_close, fd);
#else
    ::close(fd);
#endif
}
}  // namespace

void fd_close(int fd) noexcept {
    if (fd < 0) return;
    if (fd_entry* e = fd_table::find(fd)) {
        reactor* ring = nullptr;
        {
            std::lock_guard<spinlock> lock(e->lock);
            if (e->open || e->registered || e->nwaiters != 0) {
                e->open = false;
                close_locked(fd, *e);
            }
            if (e->ring_ops > 0) {
                e->close_deferred = true;
                ring = e->ring;
            }
        }
        if (ring) {
            ring->cancel_io(fd);
            return;
        }
    }
    close_file(fd);
}

bool fd_ring_begin(int fd, reactor* r) noexcept {
    fd_entry* e = fd_table::find(fd);
    if (!e) return false;
    std::lock_guard<spinlock> lock(e->lock);
    if (!e->open || (e->ring && e->ring != r)) return false;
    ++e->ring_ops;
    e->ring = r;
    return true;
}

bool fd_ring_end(int fd) noexcept {
    fd_entry* e = fd_table::find(fd);
    if (!e) return true;
    bool close_now = false, closed;
    {
        std::lock_guard<spinlock> lock(e->lock);
        closed = !e->open;
        if (--e->ring_ops == 0) {
            e->ring = nullptr;
            close_now = e->close_deferred;
            e->close_deferred = false;
        }
    }
    if (close_now) close_file(fd);
    return closed;
}

std::error_code fd_wait(int fd, bool write, std::uint32_t ticket, std::int64_t deadline_ns, wait_reason why) {
    if (!current_fiber_worker()) fatal("weft: misuse: a blocking socket call was made outside a fiber");
    fd_entry* e = fd_table::find(fd);
    if (!e) return std::make_error_code(std::errc::bad_file_descriptor);
    const int dir = write ? 1 : 0;
    waiter w;
    std::int64_t d = deadline_ns;
    switch (prepare_wait(w, d, /*cancelable=*/true)) {  // makes the worker's reactor
        case wait_outcome::waiting: break;
        case wait_outcome::canceled: return std::make_error_code(std::errc::operation_canceled);
        default: return std::make_error_code(std::errc::timed_out);
    }
    reactor* mine = fiber_reactor();
    e->lock.lock();
    if (!e->open) {
        e->lock.unlock();
        return std::make_error_code(std::errc::bad_file_descriptor);
    }
    if (e->ready_seq[dir].load(std::memory_order_relaxed) != ticket) {
        e->lock.unlock();
        return {};  // ready since the caller's attempt: it retries
    }
    if (!e->registered || (e->home != mine && e->nwaiters == 0)) {
        if (std::error_code ec = rehome(fd, *e, mine)) {
            e->lock.unlock();
            if (ec == std::errc::no_such_file_or_directory || ec == std::errc::bad_file_descriptor)
                return std::make_error_code(std::errc::bad_file_descriptor);
            return ec;
        }
    }
    const std::uint32_t generation = e->generation;
    if (why == wait_reason::none) why = write ? wait_reason::fd_write : wait_reason::fd_read;
    arm(w, why);
    w.f->wait_fd = fd;
    e->waiters[dir].push_back(&w);
    ++e->nwaiters;
    add(e->home->waiters, static_cast<std::int64_t>(1));
    e->lock.unlock();

    const wait_outcome out = block(w, d, /*cancelable=*/true);
    e->lock.lock();
    if (out != wait_outcome::notified && w.linked) {
        e->waiters[dir].remove(&w);
        --e->nwaiters;
        add(e->home->waiters, -static_cast<std::int64_t>(1));
    }
    const bool closed = e->generation != generation;
    e->lock.unlock();
    w.f->wait_fd = -1;
    if (closed) return std::make_error_code(std::errc::bad_file_descriptor);
    switch (out) {
        case wait_outcome::timed_out: return std::make_error_code(std::errc::timed_out);
        case wait_outcome::canceled: return std::make_error_code(std::errc::operation_canceled);
        default: return {};
    }
}

void fd_dispatch(const io_event* events, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
        const io_event& ev = events[i];
        fd_entry* e = fd_table::find(ev.token.fd);
        if (!e) continue;
        const std::uint32_t serial = ev.token.generation;
        std::lock_guard<spinlock> lock(e->lock);
        const auto current = [&] { return e->registered && e->serial == serial; };
        if (!current()) continue;  // stale: closed, reused or moved since
        for (int dir = 0; dir < 2; ++dir) {
            if (!(ev.error || (dir == 0 ? ev.readable : ev.writable))) continue;
            add(e->ready_seq[dir], 1u, std::memory_order_release);
            wake_list(*e, dir, current);
            if (!current()) break;
        }
    }
}

}  // namespace weft::detail
