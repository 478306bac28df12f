// A syscall that must report an error instead of raising the signal the
// kernel sends with it: sendfile(2) to a peer that went away (SIGPIPE: it
// has no MSG_NOSIGNAL), a write past RLIMIT_FSIZE (SIGXFSZ, whose default
// kills the process; through io_uring the kernel sends none and reports
// EFBIG, so the plain path of weft's file calls must match it).
//
// The signal is blocked on this thread for the call; when `raised(result)`
// says the call may have raised it, the one it raised is taken back before
// the mask is restored. One that was pending before stays pending. The
// signal is sent to the calling thread (both are), so no other thread sees
// it meanwhile; a fiber does not switch inside the call, so the mask is the
// call's only.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <cerrno>

namespace weft::detail {

template <class Call, class Raised>
auto call_without_signal(int sig, Call&& call, Raised&& raised) noexcept {
    sigset_t only, old, pending;
    sigemptyset(&only);
    sigaddset(&only, sig);
    pthread_sigmask(SIG_BLOCK, &only, &old);
    const bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, sig) == 1;
    const auto result = call();
    const int err = errno;
    if (!was_pending && raised(result)) {
        const timespec zero{0, 0};
        while (sigtimedwait(&only, nullptr, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = err;
    return result;
}

}  // namespace weft::detail
