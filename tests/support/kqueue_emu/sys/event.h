/* A small kqueue emulation on Linux (epoll + eventfd), so that weft's kqueue
 * backend (src/reactor/kqueue_reactor.cpp) compiles and its logic can be
 * tested on Linux. Put tests/support/kqueue_emu first on the include path and
 * link kqueue_emu.cpp. It is a test double, not a port of kqueue.
 *
 * Emulated, exactly the subset the backend uses:
 *   kqueue()            an epoll instance (EPOLL_CLOEXEC)
 *   struct kevent, EV_SET, kevent() with a changelist, an eventlist and a
 *                       timeout (NULL: forever; rounded up to milliseconds)
 *   EVFILT_READ/WRITE   EV_ADD|EV_CLEAR and EV_DELETE. kqueue keeps one knote
 *                       per (fd, filter); epoll has one registration per fd,
 *                       so both filters share it: the mask is the union
 *                       (EPOLLIN|EPOLLRDHUP for read, EPOLLOUT for write) and
 *                       one epoll event is split into one kevent per filter,
 *                       each with that filter's udata. Events that do not fit
 *                       in the eventlist wait in a per-kqueue queue.
 *   EV_CLEAR            mapped to EPOLLET: an edge-triggered registration
 *                       reports once per readiness change and then stays quiet
 *                       until the next change, as a cleared knote does.
 *   EV_EOF              on the read filter for EPOLLRDHUP/EPOLLHUP/EPOLLERR,
 *                       on the write filter for EPOLLHUP/EPOLLERR.
 *   EVFILT_USER         EV_ADD|EV_CLEAR and NOTE_TRIGGER (no EV_DELETE), each
 *                       ident backed by an edge-triggered eventfd that delivery
 *                       drains.
 *   EV_RECEIPT/EV_ERROR change results as in FreeBSD: a failed change (or any
 *                       change with EV_RECEIPT) yields an EV_ERROR entry with
 *                       errno in data if the eventlist has room (else -1 and
 *                       errno), and then kevent() returns without waiting.
 *
 * Limits (what it cannot show about a real kqueue):
 *   - Only EV_CLEAR registrations (no level-triggered mode), no EV_ONESHOT,
 *     EV_ENABLE/EV_DISABLE, other filters or fflags; data is always 0, and
 *     EV_EOF never carries a socket error in fflags.
 *   - The filters share one epoll registration, so an edge for one direction
 *     also reports the other if it is ready (a read edge brings EVFILT_WRITE);
 *     a real kqueue reports write only on send-buffer changes. Consumers must
 *     tolerate such spurious readiness (weft does).
 *   - Kernel specifics are not modelled: which fds take which filter (pipes,
 *     regular files, which epoll refuses), when EV_EOF is set, error codes.
 *   - A wait that gets only events for knotes deleted meanwhile returns 0.
 *   - close() is not intercepted: a closed kqueue's bookkeeping (and its
 *     eventfds) is reclaimed when kqueue() hands out the same number again.
 *     No fork() semantics (a real kqueue is not inherited by the child).
 */
#ifndef WEFT_KQUEUE_EMU_SYS_EVENT_H
#define WEFT_KQUEUE_EMU_SYS_EVENT_H

#include <stdint.h>
#include <time.h>

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_USER (-11)
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_CLEAR 0x0020
#define EV_RECEIPT 0x0040
#define EV_ERROR 0x4000
#define EV_EOF 0x8000
#define NOTE_TRIGGER 0x01000000

struct kevent {
    uintptr_t ident;
    short filter;
    unsigned short flags;
    unsigned int fflags;
    intptr_t data;
    void* udata;
};

#define EV_SET(kevp, a, b, c, d, e, f)                                                              \
    do {                                                                                            \
        struct kevent* ev_set_p_ = (kevp);                                                          \
        ev_set_p_->ident = (a), ev_set_p_->filter = (short)(b), ev_set_p_->flags = (unsigned short)(c); \
        ev_set_p_->fflags = (unsigned int)(d), ev_set_p_->data = (e), ev_set_p_->udata = (f);       \
    } while (0)

#ifdef __cplusplus
extern "C" {
#endif
int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist, int nevents,
           const struct timespec* timeout);
#ifdef __cplusplus
}
#endif

#endif /* WEFT_KQUEUE_EMU_SYS_EVENT_H */
