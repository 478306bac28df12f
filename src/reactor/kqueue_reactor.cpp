// kqueue backend. EV_CLEAR is kqueue's edge-triggered mode: a filter reports
// once per change in readiness, and callers try I/O first and wait only after
// EAGAIN, so one registration per fd serves every later wait (as with EPOLLET).
//
// Each fd gets two knotes, EVFILT_READ and EVFILT_WRITE, both carrying the
// packed io_token as udata. A fixed EVFILT_USER knote serves wake(); poll()
// swallows it. On Linux this file is compiled into the reactor tests, with
// WEFT_KQUEUE_EMULATED and tests/support/kqueue_emu first on the include
// path, and into libweft for the portable-emulation build (preset
// `portable`), whose workers then run on it; the platform build
// (CMakeLists.txt, non-Linux) compiles it into libweft.
#include "reactor/kqueue_reactor.hpp"

#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>

#if !defined(EVFILT_USER)
#error "weft: the kqueue backend needs EVFILT_USER (macOS, FreeBSD, NetBSD 10+, DragonFly)"
#endif

namespace weft::detail {

namespace {

// EVFILT_USER idents are their own namespace: ident 0 cannot clash with an fd.
constexpr std::uintptr_t wake_ident = 0;

void* to_udata(io_token t) noexcept {
    if constexpr (sizeof(void*) >= sizeof(std::uint64_t))
        return reinterpret_cast<void*>(static_cast<std::uintptr_t>(pack_token(t)));
    else  // 32-bit: udata holds the generation, the fd comes back as ident
        return reinterpret_cast<void*>(static_cast<std::uintptr_t>(t.generation));
}

io_token token_of(const struct kevent& ev) noexcept {
    const auto u = reinterpret_cast<std::uintptr_t>(ev.udata);
    if constexpr (sizeof(void*) >= sizeof(std::uint64_t))
        return unpack_token(static_cast<std::uint64_t>(u));
    else
        return io_token{static_cast<int>(ev.ident), static_cast<std::uint32_t>(u)};
}

// Applies n (<= 2) changes, every one of them even if an earlier one fails,
// and stores each change's errno (0: applied) in errs.
void apply(int kq, struct kevent* changes, int n, int* errs) noexcept {
    static const struct timespec zero{};
#if defined(EV_RECEIPT)
    // With EV_RECEIPT every change gets an EV_ERROR entry (data 0 on success)
    // and kevent() returns without collecting pending events.
    struct kevent receipts[2];
    for (int i = 0; i < n; ++i) {
        changes[i].flags |= EV_RECEIPT;
        errs[i] = 0;
    }
    const int got = ::kevent(kq, changes, n, receipts, n, &zero);
    if (got < 0) {
        for (int i = 0; i < n; ++i) errs[i] = errno;
        return;
    }
    for (int i = 0; i < got; ++i) {
        if (!(receipts[i].flags & EV_ERROR)) continue;
        for (int j = 0; j < n; ++j)
            if (changes[j].ident == receipts[i].ident && changes[j].filter == receipts[i].filter)
                errs[j] = static_cast<int>(receipts[i].data);
    }
#else
    // Without EV_RECEIPT a failing change stops the batch: one call per change.
    for (int i = 0; i < n; ++i) errs[i] = ::kevent(kq, &changes[i], 1, nullptr, 0, &zero) < 0 ? errno : 0;
#endif
}

}  // namespace

kqueue_reactor::kqueue_reactor() {
    kq_ = ::kqueue();
    if (kq_ < 0) throw std::system_error(errno, std::generic_category(), "weft: kqueue");
    ::fcntl(kq_, F_SETFD, FD_CLOEXEC);
    struct kevent ev;
    EV_SET(&ev, wake_ident, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, nullptr);
    if (::kevent(kq_, &ev, 1, nullptr, 0, nullptr) < 0) {
        const int err = errno;
        ::close(kq_);
        throw std::system_error(err, std::generic_category(), "weft: kevent(EVFILT_USER)");
    }
}

kqueue_reactor::~kqueue_reactor() { ::close(kq_); }

std::error_code kqueue_reactor::add(io_token token) noexcept {
    if (token.fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
    const auto ident = static_cast<std::uintptr_t>(token.fd);
    void* const udata = to_udata(token);
    struct kevent changes[2];
    // EV_ADD on an existing knote updates it (new udata): re-adding is fine.
    EV_SET(&changes[0], ident, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, udata);
    EV_SET(&changes[1], ident, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, udata);
    int errs[2];
    apply(kq_, changes, 2, errs);
    // One filter may be refused where that direction cannot block anyway (the
    // write side of a pipe's read end, a pipe whose reader is gone): the call
    // then fails at once instead of returning EAGAIN, so nobody parks on it.
    if (errs[0] != 0 && errs[1] != 0) return std::error_code(errs[0], std::generic_category());
    return {};
}

void kqueue_reactor::remove(int fd) noexcept {
    if (fd < 0) return;
    const auto ident = static_cast<std::uintptr_t>(fd);
    struct kevent changes[2];
    EV_SET(&changes[0], ident, EVFILT_READ, EV_DELETE, 0, 0, nullptr);
    EV_SET(&changes[1], ident, EVFILT_WRITE, EV_DELETE, 0, 0, nullptr);
    int errs[2];
    apply(kq_, changes, 2, errs);  // errors ignored: the fd may be gone already
}

std::size_t kqueue_reactor::poll(std::int64_t timeout_ns, io_event* out, std::size_t max) noexcept {
    constexpr std::size_t batch = 256;
    struct kevent evs[batch];
    if (max == 0) return 0;
    struct timespec ts{};
    const struct timespec* tsp = nullptr;  // forever
    if (timeout_ns >= 0) {
        ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
        tsp = &ts;
    }
    const int n = ::kevent(kq_, nullptr, 0, evs, static_cast<int>(max < batch ? max : batch), tsp);
    std::size_t k = 0;
    for (int i = 0; i < n; ++i) {
        const struct kevent& ev = evs[i];
        if (ev.filter == EVFILT_USER) continue;  // wake-up; EV_CLEAR has reset it
        io_event e{token_of(ev), false, false, (ev.flags & EV_ERROR) != 0};
        if (ev.filter == EVFILT_READ) {
            // EV_EOF: the peer shut down its writing side; the retried read
            // sees 0 (or, fflags != 0, the socket error).
            e.readable = true;
            if ((ev.flags & EV_EOF) && ev.fflags != 0) e.error = true;
        } else if (ev.filter == EVFILT_WRITE) {
            // EV_EOF: nobody reads any more; the retried write reports EPIPE.
            e.writable = true;
            if (ev.flags & EV_EOF) e.error = true;
        }
        // The read and write knotes of one fd often come back side by side.
        if (k > 0 && pack_token(out[k - 1].token) == pack_token(e.token)) {
            out[k - 1].readable |= e.readable;
            out[k - 1].writable |= e.writable;
            out[k - 1].error |= e.error;
        } else {
            out[k++] = e;
        }
    }
    return k;  // n < 0 (EINTR): 0
}

void kqueue_reactor::wake() noexcept {
    struct kevent ev;
    EV_SET(&ev, wake_ident, EVFILT_USER, 0, NOTE_TRIGGER, 0, nullptr);
    ::kevent(kq_, &ev, 1, nullptr, 0, nullptr);
}

#if !defined(WEFT_KQUEUE_EMULATED)
std::unique_ptr<reactor> make_platform_reactor() { return std::make_unique<kqueue_reactor>(); }
#endif

}  // namespace weft::detail
