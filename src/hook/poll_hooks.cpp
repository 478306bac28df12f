// Hooked readiness waits: poll, ppoll, select and epoll_wait/epoll_pwait.
// A fiber first looks without waiting; if nothing is ready it waits on the
// poller: on the one fd itself, or, for several fds, on a private epoll set
// holding them all (an epoll fd is readable when one of its fds is ready),
// and looks again when woken. Each look follows a ticket (see poller.hpp), so
// readiness that comes between a look and the wait is not lost.
#include <sys/epoll.h>
#include <sys/select.h>

#include <cerrno>
#include <climits>
#include <vector>

#include "hook/sys.hpp"
#include "hook/wait.hpp"

namespace weft::detail::hook {
namespace {

constexpr timespec zero_timeout{0, 0};

std::int64_t deadline_from_ms(int timeout_ms) noexcept {
    return timeout_ms < 0 ? no_deadline : steady_now_ns() + std::int64_t{timeout_ms} * 1'000'000;
}

std::int64_t deadline_from_timespec(const timespec* ts) noexcept {
    if (!ts) return no_deadline;
    return steady_now_ns() + static_cast<std::int64_t>(ts->tv_sec) * 1'000'000'000 + ts->tv_nsec;
}

std::uint32_t epoll_events_of(short events) noexcept {
    std::uint32_t e = 0;
    if (events & POLLIN) e |= EPOLLIN;
    if (events & POLLOUT) e |= EPOLLOUT;
    if (events & POLLPRI) e |= EPOLLPRI;
    if (events & POLLRDHUP) e |= EPOLLRDHUP;
    return e;
}

// The private epoll set of one multi-fd poll call.
class poll_set {
public:
    poll_set() noexcept = default;
    ~poll_set() {
        if (epfd_ < 0) return;
        if (fd_state* st = fd_table::find(epfd_)) st->reset(0);
        fd_detach(epfd_);
        sys::close(epfd_);
    }
    poll_set(const poll_set&) = delete;
    poll_set& operator=(const poll_set&) = delete;

    // 0 or an errno value.
    int open(const pollfd* fds, nfds_t n) noexcept {
        const long ep = sys::epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0) return errno;
        epfd_ = static_cast<int>(ep);
        if (fd_state* st = fd_table::get(epfd_)) st->reset(fd_flag::known);
        fd_attach(epfd_);
        for (nfds_t i = 0; i < n; ++i) {
            if (fds[i].fd < 0) continue;
            epoll_event ev{};
            ev.events = epoll_events_of(fds[i].events);  // level-triggered; errors and hang-ups always report
            ev.data.fd = fds[i].fd;
            if (sys::epoll_ctl(epfd_, EPOLL_CTL_ADD, fds[i].fd, &ev) == 0) continue;
            if (errno == EEXIST) {
                // The same fd twice in the array: wait for either's events.
                std::uint32_t merged = ev.events;
                for (nfds_t j = 0; j < i; ++j)
                    if (fds[j].fd == fds[i].fd) merged |= epoll_events_of(fds[j].events);
                ev.events = merged;
                sys::epoll_ctl(epfd_, EPOLL_CTL_MOD, fds[i].fd, &ev);
            }
            // EPERM (a regular file, always ready) or EBADF: the next look reports it.
        }
        return 0;
    }
    int fd() const noexcept { return epfd_; }
    bool single_failed = false;  // the lone fd cannot be waited on directly

private:
    int epfd_ = -1;
};

// The fd a wait for fds goes to, and in which direction: the one fd itself
// when one fd waits in one direction, else the private epoll set (opened on
// first use). An errno value on failure.
int wait_target(pollfd* fds, nfds_t n, poll_set& set, int& fd, bool& out) noexcept {
    if (n == 1 && fds[0].fd >= 0) {
        const short e = fds[0].events;
        const bool in = e & (POLLIN | POLLPRI | POLLRDHUP);
        out = e & POLLOUT;
        fd = fds[0].fd;
        if (in != out && !set.single_failed) return 0;
    }
    if (set.fd() < 0) {
        if (const int err = set.open(fds, n)) return err;
    }
    fd = set.fd();
    out = false;
    return 0;
}

// poll/ppoll on a fiber, after the first zero-timeout look found nothing.
// Each round: a ticket, a look, and a wait that a change since the ticket
// ends at once.
int fiber_poll(worker& w, pollfd* fds, nfds_t n, std::int64_t deadline, const sigset_t* mask) noexcept {
    poll_set set;
    for (;;) {
        int fd = -1;
        bool out = false;
        if (n > 0) {
            if (const int err = wait_target(fds, n, set, fd, out)) {
                errno = err;
                return -1;
            }
        }
        const std::uint32_t ticket = n > 0 ? fd_ticket(fd, out) : 0;
        const long r = sys::ppoll(fds, n, &zero_timeout, mask);
        if (r != 0) return static_cast<int>(r);
        if (deadline != no_deadline && steady_now_ns() >= deadline) return 0;
        int err = n == 0 ? park_until(w, deadline)  // poll(NULL, 0, t) is a sleep
                         : park_on_fd(w, fd, out, ticket, deadline, wait_reason::poll);
        if (err == EPERM && fd != set.fd()) {
            set.single_failed = true;  // a regular file: the epoll set reports it (always ready)
            continue;
        }
        if (err == 0 || err == ETIMEDOUT) continue;  // look again (a last look at the deadline)
        if (err == ECANCELED) {
            errno = EINTR;  // what a blocking poll reports when it is interrupted
            return -1;
        }
        if (err == EBADF) {
            // The fd went away while parked (its close woke us) or cannot be
            // tracked: the next look reports POLLNVAL; meanwhile do not spin.
            const std::int64_t soon = steady_now_ns() + 1'000'000;
            if (const int e = park_until(w, soon < deadline ? soon : deadline); e == ECANCELED) {
                errno = EINTR;
                return -1;
            }
            continue;
        }
        errno = err;
        return -1;
    }
}

int poll_impl(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* mask) noexcept {
    worker* w = fiber_worker();
    if (!w) return static_cast<int>(sys::ppoll(fds, n, timeout, mask));
    const long r = sys::ppoll(fds, n, &zero_timeout, mask);
    if (r != 0 || (timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0)) return static_cast<int>(r);
    return fiber_poll(*w, fds, n, deadline_from_timespec(timeout), mask);
}

timespec ms_to_timespec(int ms) noexcept {
    return timespec{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000};
}

int select_impl(int nfds, fd_set* r, fd_set* wr, fd_set* ex, timespec* timeout, const sigset_t* mask) noexcept {
    worker* w = fiber_worker();
    if (!w || nfds < 0 || nfds > FD_SETSIZE) return static_cast<int>(sys::pselect6(nfds, r, wr, ex, timeout, mask));
    // Look once without waiting (the kernel fills the sets only when something is ready).
    fd_set r0, w0, e0;
    if (r) r0 = *r;
    if (wr) w0 = *wr;
    if (ex) e0 = *ex;
    timespec zero = zero_timeout;
    long got = sys::pselect6(nfds, r, wr, ex, &zero, mask);
    if (got != 0 || (timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0)) return static_cast<int>(got);
    std::vector<pollfd> fds;
    try {
        for (int fd = 0; fd < nfds; ++fd) {
            short e = 0;
            if (r && FD_ISSET(fd, &r0)) e |= POLLIN;
            if (wr && FD_ISSET(fd, &w0)) e |= POLLOUT;
            if (ex && FD_ISSET(fd, &e0)) e |= POLLPRI;
            if (e) fds.push_back(pollfd{fd, e, 0});
        }
    } catch (...) {
        errno = ENOMEM;
        return -1;
    }
    const std::int64_t deadline = deadline_from_timespec(timeout);
    int rc = 0;
    for (;;) {
        const int pr = fiber_poll(*w, fds.data(), fds.size(), deadline, mask);
        if (pr <= 0) {
            rc = pr;
            if (pr == 0) {
                if (r) FD_ZERO(r);
                if (wr) FD_ZERO(wr);
                if (ex) FD_ZERO(ex);
            }
            break;
        }
        // Something is ready: let the kernel fill the sets. Another fiber may
        // have taken it meanwhile; then wait on.
        if (r) *r = r0;
        if (wr) *wr = w0;
        if (ex) *ex = e0;
        zero = zero_timeout;
        got = sys::pselect6(nfds, r, wr, ex, &zero, mask);
        if (got != 0) {
            rc = static_cast<int>(got);
            break;
        }
    }
    if (timeout) {
        // Linux reports the time left.
        const std::int64_t left = deadline - steady_now_ns();
        *timeout = left > 0 ? timespec{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)}
                            : zero_timeout;
    }
    return rc;
}

int epoll_wait_impl(int epfd, epoll_event* ev, int max, int timeout_ms, const sigset_t* mask) noexcept {
    worker* w = fiber_worker();
    if (!w) return static_cast<int>(sys::epoll_pwait(epfd, ev, max, timeout_ms, mask));
    const std::int64_t deadline = deadline_from_ms(timeout_ms);
    for (;;) {
        const std::uint32_t ticket = fd_ticket(epfd, false);
        const long r = sys::epoll_pwait(epfd, ev, max, 0, mask);
        if (r != 0 || timeout_ms == 0) return static_cast<int>(r);
        if (deadline != no_deadline && steady_now_ns() >= deadline) return 0;
        // The library's own epoll set is readable when one of its fds is ready.
        const int err = park_on_fd(*w, epfd, false, ticket, deadline, wait_reason::poll);
        if (err == ETIMEDOUT) continue;  // one last look
        if (err == ECANCELED) {
            errno = EINTR;
            return -1;
        }
        if (err != 0) {
            errno = err;
            return -1;
        }
    }
}

}  // namespace
}  // namespace weft::detail::hook

using namespace weft::detail;
using namespace weft::detail::hook;

extern "C" {

int poll(pollfd* fds, nfds_t n, int timeout_ms) {
    if (timeout_ms < 0) return poll_impl(fds, n, nullptr, nullptr);
    const timespec ts = ms_to_timespec(timeout_ms);
    return poll_impl(fds, n, &ts, nullptr);
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout_ms, size_t fdslen) {
    if (fdslen / sizeof(pollfd) < n) __chk_fail();
    return poll(fds, n, timeout_ms);
}

// Weak: glibc's static archive defines ppoll strongly in an object that other
// libc code may pull in; a fully static program then keeps glibc's.
__attribute__((weak)) int ppoll(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* mask) {
    // The signal mask applies to the looks, not to the parked time: a fiber
    // does not own its thread's signal mask.
    return poll_impl(fds, n, timeout, mask);
}

int select(int nfds, fd_set* __restrict r, fd_set* __restrict w, fd_set* __restrict e, timeval* __restrict tv) {
    if (!tv) return select_impl(nfds, r, w, e, nullptr, nullptr);
    if (tv->tv_sec < 0 || tv->tv_usec < 0) {
        errno = EINVAL;
        return -1;
    }
    timespec ts{tv->tv_sec + tv->tv_usec / 1'000'000, (tv->tv_usec % 1'000'000) * 1000};
    const int rc = select_impl(nfds, r, w, e, &ts, nullptr);
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return rc;
}

int epoll_wait(int epfd, epoll_event* ev, int max, int timeout_ms) {
    return epoll_wait_impl(epfd, ev, max, timeout_ms, nullptr);
}

int epoll_pwait(int epfd, epoll_event* ev, int max, int timeout_ms, const sigset_t* mask) {
    return epoll_wait_impl(epfd, ev, max, timeout_ms, mask);
}

}  // extern "C"
