// The cost the hooks add to a call that does not block: write then read one
// byte on a ready, blocking-looking socket (non-blocking underneath), through
// the hooked read/write on a fiber, against the same system calls made raw
// with syscall(2). Interleaved repetitions, best of each; prints one JSON line.
// Usage: hook_overhead [ITERATIONS] [REPS]
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <weft/run.hpp>

namespace {

double ns_per_pair(int a, int b, long iters, bool hooked) {
    char c = 'x';
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < iters; ++i) {
        if (hooked) {
            if (::write(a, &c, 1) != 1 || ::read(b, &c, 1) != 1) std::abort();
        } else {
            if (::syscall(SYS_write, a, &c, 1) != 1 || ::syscall(SYS_read, b, &c, 1) != 1) std::abort();
        }
    }
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(iters);
}

}  // namespace

int main(int argc, char** argv) {
    const long iters = argc > 1 ? std::atol(argv[1]) : 200000;
    const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
    double raw = 1e30, hooked = 1e30, outside = 1e30;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 2;
    for (int r = 0; r < reps; ++r) outside = std::min(outside, ns_per_pair(sv[0], sv[1], iters / 4, true));
    weft::run([&] {
        ns_per_pair(sv[0], sv[1], 1000, true);  // the hooks classify both fds (managed) here
        for (int r = 0; r < reps; ++r) {
            raw = std::min(raw, ns_per_pair(sv[0], sv[1], iters, false));
            hooked = std::min(hooked, ns_per_pair(sv[0], sv[1], iters, true));
        }
    });
    std::printf("{\"raw_ns_per_write_read\": %.1f, \"hooked_ns_per_write_read\": %.1f, \"ratio\": %.3f, "
                "\"hooked_outside_fiber_ns\": %.1f, \"iterations\": %ld, \"reps\": %d}\n",
                raw, hooked, hooked / raw, outside, iters, reps);
    return 0;
}
