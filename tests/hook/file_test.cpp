// Regular files, ttys and other character devices under weft::hook, on both
// reactor backends: their flags stay as the caller left them, a fiber's
// blocking read on a pty parks only that fiber (io_uring: an SQE of the
// worker's ring; epoll: a wait for readiness), and hooked file calls give the
// same bytes, results, errno values and file offsets as the plain syscalls.
// No test asserts how fast anything happens.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "weft/weft.hpp"

namespace {

using weft::reactor_backend;

long kernel_flags(int fd) { return ::syscall(SYS_fcntl, fd, F_GETFL, 0); }
long raw_lseek(int fd) { return ::syscall(SYS_lseek, fd, 0L, SEEK_CUR); }

// Runs fn on a fiber of a one-worker runtime with the given backend.
template <class F>
void on_one_worker(reactor_backend be, F fn) {
    weft::runtime rt{{.workers = 1, .reactor = be}};
    rt.run(fn);
}

std::string temp_path(const char* name) {
    const char* t = std::getenv("TMPDIR");
    return std::string(t && *t ? t : "/tmp") + "/weft-hook-file-" + std::to_string(::getpid()) + "-" + name;
}

class Backend : public ::testing::TestWithParam<reactor_backend> {};

// A blocking read of a pty by one fiber while a 1 ms ticker on the same
// worker keeps ticking: the writer (the ticker itself) writes only after it
// ticked `ticks_before_write` times, so the read can only return after that,
// and would never return at all if it held the worker's thread (a watchdog
// thread then writes instead, and the counts show it).
TEST_P(Backend, PtyReadParksOnlyItsFiberNextToATicker) {
    int master = -1, slave = -1;
    ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0) << std::strerror(errno);
    const long slave_flags = kernel_flags(slave);
    constexpr int ticks_before_write = 20;
    std::atomic<int> ticks{0};
    std::atomic<bool> read_done{false};
    int ticks_at_read = -1;
    ssize_t got = -1;
    char buf[64] = {};
    // Were the worker's thread stuck in read(2), no fiber would write: do it
    // from a plain thread after a long while, so the test fails, not hangs.
    std::thread watchdog([&] {
        for (int i = 0; i < 1000 && !read_done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (!read_done.load()) (void)!::syscall(SYS_write, master, "stuck\n", 6);
    });
    on_one_worker(GetParam(), [&] {
        weft::thread reader([&] {
            got = ::read(slave, buf, sizeof buf - 1);
            ticks_at_read = ticks.load();
            read_done = true;
        });
        weft::thread ticker([&] {
            for (int i = 0; i < 100000 && !read_done.load(); ++i) {
                weft::this_fiber::sleep_for(std::chrono::milliseconds(1));
                if (ticks.fetch_add(1) + 1 == ticks_before_write) {
                    EXPECT_EQ(::write(master, "go\n", 3), 3);
                }
            }
        });
        reader.join();
        ticker.join();
    });
    read_done = true;
    watchdog.join();
    EXPECT_EQ(got, 3);                               // a canonical-mode line, as read(2) gives it
    EXPECT_STREQ(buf, "go\n");
    EXPECT_GE(ticks_at_read, ticks_before_write);    // the ticker ran while the reader waited
    EXPECT_EQ(kernel_flags(slave), slave_flags);     // the tty's flags untouched
    EXPECT_EQ(kernel_flags(slave) & O_NONBLOCK, 0);
    ::close(master);
    ::close(slave);
}

// Output to a pty, and input larger than one read: both directions through
// the hooks, every byte in order.
TEST_P(Backend, PtyWriteAndReadInRawMode) {
    int master = -1, slave = -1;
    ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
    termios t{};
    ASSERT_EQ(::tcgetattr(slave, &t), 0);
    ::cfmakeraw(&t);
    ASSERT_EQ(::tcsetattr(slave, TCSANOW, &t), 0);
    std::string out(3000, 'x');
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>('a' + i % 26);
    std::string seen;
    on_one_worker(GetParam(), [&] {
        weft::thread writer([&] { EXPECT_EQ(::write(slave, out.data(), out.size()), static_cast<ssize_t>(out.size())); });
        weft::thread reader([&] {
            char b[512];
            while (seen.size() < out.size()) {
                const ssize_t k = ::read(master, b, sizeof b);
                ASSERT_GT(k, 0) << std::strerror(errno);
                seen.append(b, static_cast<std::size_t>(k));
            }
        });
        writer.join();
        reader.join();
    });
    EXPECT_EQ(seen, out);
    ::close(master);
    ::close(slave);
}

// The same calls on two descriptions of one file, one hooked (a fiber's
// libc calls) and one by raw syscalls: the same results, bytes and offsets.
TEST_P(Backend, RegularFileCallsMatchThePlainSyscalls) {
    const std::string path = temp_path("same");
    std::vector<char> content(100000);
    for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 131 + (i >> 9));
    {
        const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::syscall(SYS_write, fd, content.data(), content.size()), static_cast<long>(content.size()));
        ::close(fd);
    }
    on_one_worker(GetParam(), [&] {
        const int hooked = ::open(path.c_str(), O_RDWR);
        const int raw = ::open(path.c_str(), O_RDWR);
        ASSERT_GE(hooked, 0);
        ASSERT_GE(raw, 0);
        const long hooked_flags = kernel_flags(hooked);
        char a[5000], b[5000];
        // read advances the offset; the last read is short, then 0 at EOF.
        for (std::size_t n : {1u, 4096u, 5000u, 3u}) {
            ASSERT_EQ(::read(hooked, a, n), ::syscall(SYS_read, raw, b, n));
            EXPECT_EQ(std::memcmp(a, b, n), 0);
            EXPECT_EQ(raw_lseek(hooked), raw_lseek(raw));
        }
        // pread reads where it is told and leaves the offset alone.
        const long before = raw_lseek(hooked);
        ASSERT_EQ(::pread(hooked, a, 700, 50000), 700);
        EXPECT_EQ(std::memcmp(a, content.data() + 50000, 700), 0);
        EXPECT_EQ(raw_lseek(hooked), before);
        EXPECT_EQ(::pread(hooked, a, 5000, 99000), 1000);  // short at EOF
        EXPECT_EQ(::pread(hooked, a, 10, 200000), 0);
        errno = 0;
        EXPECT_EQ(::pread(hooked, a, 10, -1), -1);  // not "the file position"
        EXPECT_EQ(errno, EINVAL);
        // readv at the offset, then to EOF.
        ASSERT_EQ(::lseek(hooked, 99990, SEEK_SET), 99990);
        ASSERT_EQ(::lseek(raw, 99990, SEEK_SET), 99990);
        iovec va[2] = {{a, 4}, {a + 4, 100}}, vb[2] = {{b, 4}, {b + 4, 100}};
        EXPECT_EQ(::readv(hooked, va, 2), 10);
        EXPECT_EQ(::syscall(SYS_readv, raw, vb, 2), 10);
        EXPECT_EQ(std::memcmp(a, b, 10), 0);
        EXPECT_EQ(::read(hooked, a, 10), 0);  // EOF
        EXPECT_EQ(raw_lseek(hooked), 100000);
        // write at the offset, pwrite elsewhere without moving it, writev.
        ASSERT_EQ(::lseek(hooked, 10, SEEK_SET), 10);
        EXPECT_EQ(::write(hooked, "HELLO", 5), 5);
        EXPECT_EQ(raw_lseek(hooked), 15);
        EXPECT_EQ(::pwrite(hooked, "WORLD", 5, 200), 5);
        EXPECT_EQ(raw_lseek(hooked), 15);
        iovec w[2] = {{const_cast<char*>("ab"), 2}, {const_cast<char*>("cde"), 3}};
        EXPECT_EQ(::writev(hooked, w, 2), 5);
        EXPECT_EQ(raw_lseek(hooked), 20);
        // What the raw description sees of it.
        ASSERT_EQ(::syscall(SYS_pread64, raw, b, 20, 5L), 20);
        EXPECT_EQ(std::string(b + 5, 10), "HELLOabcde");
        ASSERT_EQ(::syscall(SYS_pread64, raw, b, 5, 200L), 5);
        EXPECT_EQ(std::string(b, 5), "WORLD");
        EXPECT_EQ(kernel_flags(hooked), hooked_flags);
        ::close(hooked);
        ::close(raw);
    });
    ::unlink(path.c_str());
}

// A file whose pages were dropped from the page cache: RWF_NOWAIT refuses
// the read (EAGAIN), so it goes through the ring or the offload pool; the
// bytes and offsets are the same. (Whether the kernel really dropped the
// pages is its choice: the results must match either way.)
TEST_P(Backend, UncachedFileReadsTheSameBytes) {
    const std::string path = temp_path("uncached");
    std::vector<char> content(1 << 20);
    for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7 + (i >> 12));
    {
        const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::syscall(SYS_write, fd, content.data(), content.size()), static_cast<long>(content.size()));
        ASSERT_EQ(::fdatasync(fd), 0);
        ::close(fd);
    }
    on_one_worker(GetParam(), [&] {
        const int fd = ::open(path.c_str(), O_RDONLY);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
        std::vector<char> got(content.size());
        ASSERT_EQ(::read(fd, got.data(), 300000), 300000);
        EXPECT_EQ(raw_lseek(fd), 300000);
        ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
        ASSERT_EQ(::pread(fd, got.data() + 300000, content.size(), 300000), static_cast<ssize_t>(content.size() - 300000));
        EXPECT_EQ(raw_lseek(fd), 300000);
        EXPECT_TRUE(got == content);
        ::close(fd);
    });
    ::unlink(path.c_str());
}

// O_APPEND: every write lands at the end, whatever the offset was.
TEST_P(Backend, AppendWritesGoToTheEnd) {
    const std::string path = temp_path("append");
    on_one_worker(GetParam(), [&] {
        const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_APPEND, 0600);
        ASSERT_GE(fd, 0);
        EXPECT_EQ(::write(fd, "one,", 4), 4);
        ASSERT_EQ(::lseek(fd, 0, SEEK_SET), 0);
        EXPECT_EQ(::write(fd, "two,", 4), 4);
        EXPECT_EQ(raw_lseek(fd), 8);
        iovec v[2] = {{const_cast<char*>("thr"), 3}, {const_cast<char*>("ee"), 2}};
        EXPECT_EQ(::writev(fd, v, 2), 5);
        char b[32] = {};
        EXPECT_EQ(::pread(fd, b, sizeof b, 0), 13);
        EXPECT_STREQ(b, "one,two,three");
        ::close(fd);
    });
    ::unlink(path.c_str());
}

TEST_P(Backend, BadDescriptorsAndDirectories) {
    on_one_worker(GetParam(), [&] {
        const std::string path = temp_path("closed");
        int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0600);
        ASSERT_GE(fd, 0);
        EXPECT_EQ(::write(fd, "x", 1), 1);  // classified as a file while open
        ::close(fd);
        ::unlink(path.c_str());
        char b[8];
        iovec v{b, sizeof b};
        errno = 0;
        EXPECT_EQ(::read(fd, b, sizeof b), -1);
        EXPECT_EQ(errno, EBADF);
        errno = 0;
        EXPECT_EQ(::write(fd, b, 1), -1);
        EXPECT_EQ(errno, EBADF);
        errno = 0;
        EXPECT_EQ(::pread(fd, b, 1, 0), -1);
        EXPECT_EQ(errno, EBADF);
        errno = 0;
        EXPECT_EQ(::readv(fd, &v, 1), -1);
        EXPECT_EQ(errno, EBADF);

        const int dir = ::open("/", O_RDONLY | O_DIRECTORY);
        ASSERT_GE(dir, 0);
        errno = 0;
        EXPECT_EQ(::read(dir, b, sizeof b), -1);
        EXPECT_EQ(errno, EISDIR);
        errno = 0;
        EXPECT_EQ(::pread(dir, b, sizeof b, 0), -1);
        EXPECT_EQ(errno, EISDIR);
        ::close(dir);

        // A write-only file read, a read-only one written: the kernel's EBADF.
        const int ro = ::open("/proc/self/stat", O_RDONLY);
        ASSERT_GE(ro, 0);
        errno = 0;
        EXPECT_EQ(::write(ro, "x", 1), -1);
        EXPECT_EQ(errno, EBADF);
        EXPECT_GT(::read(ro, b, sizeof b), 0);
        ::close(ro);

        // /dev/null and /dev/zero answer inline, as before.
        const int null = ::open("/dev/null", O_RDWR);
        const int zero = ::open("/dev/zero", O_RDONLY);
        EXPECT_EQ(::read(null, b, sizeof b), 0);
        EXPECT_EQ(::write(null, b, sizeof b), static_cast<ssize_t>(sizeof b));
        EXPECT_EQ(::read(zero, b, sizeof b), static_cast<ssize_t>(sizeof b));
        ::close(null);
        ::close(zero);
    });
}

// A hooked write that reaches RLIMIT_FSIZE does what the plain write does:
// the write that crosses the limit moves the bytes up to it, the next one
// fails with EFBIG and raises SIGXFSZ, whose default ends the process (also
// where the bytes went through the worker's ring, which raises nothing by
// itself). In a child: the limit is the process's.
int hooked_size_limit_child(reactor_backend be, const std::string& path, bool ignore_signal) {
    constexpr long limit = 64 * 1024;
    rlimit lim{};
    if (::getrlimit(RLIMIT_FSIZE, &lim) != 0) return 10;
    lim.rlim_cur = limit;
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 11;
    if (ignore_signal) ::signal(SIGXFSZ, SIG_IGN);
    int bad = 0;
    on_one_worker(be, [&] {
        const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0600);
        if (fd < 0) {
            bad = 20;
            return;
        }
        std::vector<char> data(limit + 40'000, 'w');
        if (::write(fd, data.data(), data.size()) != limit) bad = 21;
        errno = 0;
        if (!bad && (::write(fd, data.data(), 1) != -1 || errno != EFBIG)) bad = 22;  // default: ends here
        errno = 0;
        if (!bad && (::pwrite(fd, data.data(), 10, limit + 5) != -1 || errno != EFBIG)) bad = 23;
        if (!bad && ::pwrite(fd, "z", 1, 0) != 1) bad = 24;
        ::close(fd);
    });
    ::unlink(path.c_str());
    return bad;
}

TEST_P(Backend, AWritePastTheFileSizeLimitActsAsThePlainCall) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const std::string path = temp_path("fsize");
    EXPECT_EXIT(std::_Exit(hooked_size_limit_child(GetParam(), path, true)), ::testing::ExitedWithCode(0), "");
    EXPECT_EXIT(std::_Exit(hooked_size_limit_child(GetParam(), path, false)), ::testing::KilledBySignal(SIGXFSZ),
                "");
    ::unlink(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(File, Backend, ::testing::Values(reactor_backend::epoll, reactor_backend::io_uring),
                         [](const ::testing::TestParamInfo<reactor_backend>& p) {
                             return p.param == reactor_backend::epoll ? std::string("epoll") : std::string("io_uring");
                         });

}  // namespace
