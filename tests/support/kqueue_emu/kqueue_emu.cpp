// kqueue emulation on epoll + eventfd, for tests on Linux only. What it covers,
// how EV_CLEAR maps to EPOLLET, and its limits: see sys/event.h next to it.
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>

namespace {

constexpr std::uint64_t user_bit = std::uint64_t{1} << 63;  // epoll data: user ident, else fd

struct fd_reg {  // one epoll registration stands for both knotes of an fd
    bool read = false, write = false;
    void *udata_read = nullptr, *udata_write = nullptr;
};
struct user_reg { int efd; void* udata; };  // an EVFILT_USER knote: an eventfd
struct kq_state {
    std::map<int, fd_reg> fds;
    std::map<std::uintptr_t, user_reg> users;
    std::deque<struct kevent> pending;  // translated, not yet delivered
};

std::mutex mu;
std::map<int, kq_state> kqs;  // by the epoll fd that stands for the kqueue

struct kevent make_event(std::uintptr_t ident, short filter, int flags, void* udata) {
    struct kevent ev;
    EV_SET(&ev, ident, filter, flags, 0, 0, udata);
    return ev;
}

// Drops queued events of an fd's knotes: of one filter, or (filter 0) both.
void drop_pending(kq_state& s, std::uintptr_t fd, short filter) {
    std::erase_if(s.pending, [&](const struct kevent& e) {
        return e.ident == fd && (filter == 0 ? e.filter != EVFILT_USER : e.filter == filter);
    });
}

std::uint32_t mask_of(const fd_reg& r) {
    return (r.read ? EPOLLIN | EPOLLRDHUP : 0u) | (r.write ? EPOLLOUT : 0u) | EPOLLET;
}

int change_fd(int kq, kq_state& s, const struct kevent& c) {
    const int fd = static_cast<int>(c.ident);
    const bool rd = c.filter == EVFILT_READ;
    epoll_event ev{};
    ev.data.u64 = static_cast<std::uint32_t>(fd);
    if (c.flags & EV_ADD) {
        if (!(c.flags & EV_CLEAR)) return EINVAL;  // only the edge-triggered mode is emulated
        fd_reg fresh;
        (rd ? fresh.read : fresh.write) = true;
        (rd ? fresh.udata_read : fresh.udata_write) = c.udata;
        ev.events = mask_of(fresh);
        // ADD succeeding means the kernel had no registration: anything we
        // kept is for an fd closed without EV_DELETE (close drops knotes).
        if (::epoll_ctl(kq, EPOLL_CTL_ADD, fd, &ev) == 0) {
            s.fds[fd] = fresh;
            drop_pending(s, c.ident, 0);
            return 0;
        }
        if (errno != EEXIST) return errno;
        for (struct kevent& e : s.pending)  // a queued event reports the knote's current udata
            if (e.ident == c.ident && e.filter == c.filter) e.udata = c.udata;
        fd_reg& r = s.fds[fd];
        (rd ? r.read : r.write) = true;
        (rd ? r.udata_read : r.udata_write) = c.udata;
        ev.events = mask_of(r);
        return ::epoll_ctl(kq, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : errno;
    }
    if (c.flags & EV_DELETE) {
        auto it = s.fds.find(fd);
        if (it == s.fds.end() || !(rd ? it->second.read : it->second.write)) return ENOENT;
        fd_reg& r = it->second;
        (rd ? r.read : r.write) = false;
        drop_pending(s, c.ident, c.filter);
        ev.events = mask_of(r);
        const bool keep = r.read || r.write;
        const int rc = ::epoll_ctl(kq, keep ? EPOLL_CTL_MOD : EPOLL_CTL_DEL, fd, keep ? &ev : nullptr);
        const int err = rc == 0 ? 0 : errno;
        if (!keep || err != 0) s.fds.erase(it);  // on error the fd was closed: the kernel forgot it
        return err;
    }
    return EINVAL;
}

int change_user(int kq, kq_state& s, const struct kevent& c) {
    auto it = s.users.find(c.ident);
    if (c.flags & EV_ADD) {
        if (!(c.flags & EV_CLEAR)) return EINVAL;
        if (it == s.users.end()) {
            const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (efd < 0) return errno;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLET;
            ev.data.u64 = user_bit | c.ident;
            if (::epoll_ctl(kq, EPOLL_CTL_ADD, efd, &ev) != 0) {
                const int err = errno;
                return ::close(efd), err;
            }
            it = s.users.emplace(c.ident, user_reg{efd, c.udata}).first;
        }
        it->second.udata = c.udata;
    } else if (it == s.users.end() || (c.flags & EV_DELETE)) {
        return it == s.users.end() ? ENOENT : EINVAL;  // deleting a user event is not emulated
    }
    if (c.fflags & NOTE_TRIGGER) {
        const std::uint64_t one = 1;
        if (::write(it->second.efd, &one, sizeof one) < 0 && errno != EAGAIN) return errno;
    }
    return 0;
}

// Turns epoll events into kevents at the back of s.pending.
void translate(kq_state& s, const epoll_event* evs, int n) {
    for (int i = 0; i < n; ++i) {
        const std::uint64_t d = evs[i].data.u64;
        if (d & user_bit) {
            auto it = s.users.find(static_cast<std::uintptr_t>(d & ~user_bit));
            if (it == s.users.end()) continue;
            std::uint64_t drained;
            [[maybe_unused]] auto r = ::read(it->second.efd, &drained, sizeof drained);  // EV_CLEAR
            s.pending.push_back(make_event(it->first, EVFILT_USER, EV_ADD | EV_CLEAR, it->second.udata));
            continue;
        }
        auto it = s.fds.find(static_cast<int>(d));
        if (it == s.fds.end()) continue;  // deleted after epoll_wait returned
        const fd_reg& r = it->second;
        const std::uint32_t e = evs[i].events;
        const bool hup = (e & (EPOLLHUP | EPOLLERR)) != 0;
        const int base = EV_ADD | EV_CLEAR;
        if (r.read && ((e & (EPOLLIN | EPOLLRDHUP)) || hup))
            s.pending.push_back(make_event(it->first, EVFILT_READ,
                                           base | ((e & EPOLLRDHUP) || hup ? EV_EOF : 0), r.udata_read));
        if (r.write && ((e & EPOLLOUT) || hup))
            s.pending.push_back(
                make_event(it->first, EVFILT_WRITE, base | (hup ? EV_EOF : 0), r.udata_write));
    }
}

int fail(int err) { return errno = err, -1; }

int deliver(kq_state& s, struct kevent* out, int max) {
    int k = 0;
    for (; k < max && !s.pending.empty(); ++k, s.pending.pop_front()) out[k] = s.pending.front();
    return k;
}

}  // namespace

extern "C" int kqueue(void) {
    const int kq = ::epoll_create1(EPOLL_CLOEXEC);
    if (kq < 0) return -1;
    std::lock_guard lock(mu);
    if (auto it = kqs.find(kq); it != kqs.end()) {  // an earlier kqueue with this number was closed
        for (auto& [ident, u] : it->second.users) ::close(u.efd);
        kqs.erase(it);
    }
    kqs[kq];
    return kq;
}

extern "C" int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
                      int nevents, const struct timespec* timeout) {
    if (nchanges < 0 || nevents < 0) return fail(EINVAL);
    {
        std::lock_guard lock(mu);
        auto it = kqs.find(kq);
        if (it == kqs.end()) return fail(EBADF);
        kq_state& s = it->second;
        int results = 0;
        for (int i = 0; i < nchanges; ++i) {
            const struct kevent& c = changelist[i];
            const int err = c.filter == EVFILT_USER                                 ? change_user(kq, s, c)
                            : c.filter == EVFILT_READ || c.filter == EVFILT_WRITE ? change_fd(kq, s, c)
                                                                                  : EINVAL;
            if (err == 0 && !(c.flags & EV_RECEIPT)) continue;
            if (results == nevents) {
                if (err == 0) continue;
                return fail(err);
            }
            eventlist[results] = c;  // as FreeBSD: the change, flags EV_ERROR, errno (or 0) in data
            eventlist[results].flags = EV_ERROR, eventlist[results++].data = err;
        }
        if (results > 0) return results;
        if (nevents == 0) return 0;
        if (!s.pending.empty()) return deliver(s, eventlist, nevents);
    }
    int ms = -1;  // rounded up: never wake early
    if (timeout)
        ms = timeout->tv_sec >= INT_MAX / 1000 - 1
                 ? INT_MAX
                 : static_cast<int>(timeout->tv_sec * 1000 + (timeout->tv_nsec + 999'999) / 1'000'000);
    epoll_event evs[64];
    const int n = ::epoll_wait(kq, evs, std::min(nevents, 64), ms);
    if (n < 0) return -1;  // errno from epoll_wait (EINTR)
    std::lock_guard lock(mu);
    auto it = kqs.find(kq);
    if (it == kqs.end()) return fail(EBADF);
    translate(it->second, evs, n);
    return deliver(it->second, eventlist, nevents);
}
