// What one 4 KiB read of a file in the page cache costs a fiber, per way of
// doing it: the raw syscall (pread inline, what the hooks do on an epoll
// worker), the hooked pread on an epoll worker, the same read handed to the
// offload pool (weft::fs::file on an epoll worker), and the hooked pread on an
// io_uring worker (an SQE of the worker's ring). Best of REPS; one JSON line.
// Usage: hook_file_read [ITERATIONS] [REPS]
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <weft/fs.hpp>
#include <weft/runtime.hpp>

namespace {

constexpr std::size_t block = 4096;
constexpr std::size_t file_size = 1 << 20;

template <class Read>
double ns_per_read(long iters, Read rd) {
    char buf[block];
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < iters; ++i) {
        const auto off = static_cast<std::uint64_t>(i % (file_size / block)) * block;
        if (rd(buf, off) != static_cast<long>(block)) std::abort();
    }
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(iters);
}

}  // namespace

int main(int argc, char** argv) {
    const long iters = argc > 1 ? std::atol(argv[1]) : 20000;
    const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
    const std::chrono::microseconds spin{argc > 3 ? std::atol(argv[3]) : 20};
    const char* tmp = std::getenv("TMPDIR");
    const std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/weft-file-read-" + std::to_string(::getpid());
    const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (fd < 0) return 2;
    ::unlink(path.c_str());
    std::string data(file_size, 'x');
    if (::syscall(SYS_pwrite64, fd, data.data(), data.size(), 0L) != static_cast<long>(file_size)) return 2;
    double raw = 1e30, hooked_epoll = 1e30, offloaded = 1e30, hooked_uring = 1e30;
    double raw_w = 1e30, hooked_epoll_w = 1e30, hooked_uring_w = 1e30;
    auto raw_write = [&](char* b, std::uint64_t off) { return ::syscall(SYS_pwrite64, fd, b, block, static_cast<long>(off)); };
    auto hooked_write = [&](char* b, std::uint64_t off) { return static_cast<long>(::pwrite(fd, b, block, static_cast<off_t>(off))); };
    auto raw_read = [&](char* b, std::uint64_t off) { return ::syscall(SYS_pread64, fd, b, block, static_cast<long>(off)); };
    auto hooked_read = [&](char* b, std::uint64_t off) { return static_cast<long>(::pread(fd, b, block, static_cast<off_t>(off))); };
    weft::fs::file f(::dup(fd));
    auto offload_read = [&](char* b, std::uint64_t off) { return static_cast<long>(f.pread(b, block, off)); };
    {
        weft::runtime rt{{.workers = 1, .reactor = weft::reactor_backend::epoll}};
        rt.run([&] {
            ns_per_read(1000, hooked_read);  // the hooks classify the fd here
            for (int r = 0; r < reps; ++r) {
                raw = std::min(raw, ns_per_read(iters, raw_read));
                hooked_epoll = std::min(hooked_epoll, ns_per_read(iters, hooked_read));
                offloaded = std::min(offloaded, ns_per_read(iters, offload_read));
                raw_w = std::min(raw_w, ns_per_read(iters, raw_write));
                hooked_epoll_w = std::min(hooked_epoll_w, ns_per_read(iters, hooked_write));
            }
        });
    }
    {
        weft::runtime rt{{.workers = 1, .idle_spin = spin, .reactor = weft::reactor_backend::io_uring}};
        rt.run([&] {
            ns_per_read(1000, hooked_read);
            for (int r = 0; r < reps; ++r) {
                hooked_uring = std::min(hooked_uring, ns_per_read(iters, hooked_read));
                hooked_uring_w = std::min(hooked_uring_w, ns_per_read(iters, hooked_write));
            }
        });
    }
    std::printf("{\"raw_pread_4k_ns\": %.1f, \"hooked_epoll_inline_ns\": %.1f, \"offloaded_ns\": %.1f, "
                "\"hooked_io_uring_ns\": %.1f, \"offload_over_inline\": %.1f, \"raw_pwrite_4k_ns\": %.1f, "
                "\"hooked_epoll_pwrite_ns\": %.1f, \"hooked_io_uring_pwrite_ns\": %.1f, \"iterations\": %ld, \"reps\": %d}\n",
                raw, hooked_epoll, offloaded, hooked_uring, offloaded / hooked_epoll, raw_w, hooked_epoll_w, hooked_uring_w,
                iters, reps);
    ::close(fd);
    return 0;
}
