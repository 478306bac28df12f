// Pipes and FIFOs under weft::hook: they stay blocking in the kernel, and a
// fiber's read or write on one parks only that fiber (RWF_NOWAIT per call),
// on either reactor backend.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "weft/weft.hpp"

namespace {

long kernel_flags(int fd) { return ::syscall(SYS_fcntl, fd, F_GETFL, 0); }

struct pipe_fds {
    int fd[2] = {-1, -1};
    pipe_fds() { EXPECT_EQ(::pipe(fd), 0); }
    ~pipe_fds() {
        for (int f : fd)
            if (f >= 0) ::close(f);
    }
    void close_end(int i) {
        ::close(fd[i]);
        fd[i] = -1;
    }
};

// The CGI case: a blocking pipe read next to a ticker on the only worker.
TEST(Pipe, ReadParksOnlyItsFiberNextToATicker) {
    weft::run([] {
        pipe_fds p;
        int ticks = 0;
        int ticks_when_read = -1;
        weft::thread reader([&] {
            char buf[8] = {};
            EXPECT_EQ(::read(p.fd[0], buf, sizeof buf), 2);  // used to sleep the worker's thread
            ticks_when_read = ticks;
            EXPECT_STREQ(buf, "go");
        });
        weft::thread ticker([&] {
            for (int i = 0; i < 5; ++i) {
                ++ticks;
                weft::this_fiber::yield();
            }
            EXPECT_EQ(::write(p.fd[1], "go", 2), 2);
        });
        reader.join();
        ticker.join();
        EXPECT_EQ(ticks_when_read, 5);
        EXPECT_EQ(kernel_flags(p.fd[0]) & O_NONBLOCK, 0);  // still blocking underneath
        EXPECT_EQ(kernel_flags(p.fd[1]) & O_NONBLOCK, 0);
    });
}

// A writer that fills the pipe parks until the reader (same worker) drains it.
TEST(Pipe, LargeWriteParksWhenThePipeIsFull) {
    weft::run([] {
        pipe_fds p;
        constexpr std::size_t total = 4u << 20;
        std::vector<unsigned char> data(total);
        for (std::size_t i = 0; i < total; ++i) data[i] = static_cast<unsigned char>(i * 7 + (i >> 10));
        weft::thread writer([&] {
            EXPECT_EQ(::write(p.fd[1], data.data(), total), static_cast<ssize_t>(total));
            p.close_end(1);
        });
        std::vector<unsigned char> got;
        weft::thread reader([&] {
            std::vector<unsigned char> buf(100000);
            for (int i = 0; i < 100000; ++i) {  // bounded: 4 MiB needs far fewer reads
                const ssize_t k = ::read(p.fd[0], buf.data(), buf.size());
                ASSERT_GE(k, 0) << std::strerror(errno);
                if (k == 0) break;
                got.insert(got.end(), buf.begin(), buf.begin() + k);
            }
        });
        writer.join();
        reader.join();
        EXPECT_TRUE(got == data);
    });
}

// Writes of up to PIPE_BUF bytes from many fibers stay whole.
TEST(Pipe, SmallWritesFromManyFibersStayAtomic) {
    weft::run([] {
        pipe_fds p;
        constexpr int writers = 16, records = 200;
        constexpr std::size_t record = 512;  // <= PIPE_BUF
        std::vector<weft::thread> ws;
        for (int w = 0; w < writers; ++w)
            ws.emplace_back([&, w] {
                std::vector<unsigned char> r(record, static_cast<unsigned char>(w));
                for (int i = 0; i < records; ++i)
                    EXPECT_EQ(::write(p.fd[1], r.data(), record), static_cast<ssize_t>(record));
            });
        std::vector<int> per_writer(writers, 0);
        bool intact = true;
        weft::thread reader([&] {
            std::vector<unsigned char> r(record);
            for (int n = 0; n < writers * records; ++n) {
                std::size_t have = 0;
                while (have < record) {
                    const ssize_t k = ::read(p.fd[0], r.data() + have, record - have);
                    ASSERT_GT(k, 0);
                    have += static_cast<std::size_t>(k);
                }
                for (std::size_t i = 1; i < record; ++i) intact = intact && r[i] == r[0];
                if (r[0] < writers) ++per_writer[r[0]];
            }
        });
        for (auto& w : ws) w.join();
        reader.join();
        EXPECT_TRUE(intact);
        for (int w = 0; w < writers; ++w) EXPECT_EQ(per_writer[w], records) << "writer " << w;
    });
}

TEST(Pipe, EndOfFileBrokenPipeAndNonBlockingCallers) {
    ::signal(SIGPIPE, SIG_IGN);
    weft::run([] {
        {
            pipe_fds p;
            weft::thread closer([&] { p.close_end(1); });
            char c;
            EXPECT_EQ(::read(p.fd[0], &c, 1), 0);  // parks, then EOF
            closer.join();
        }
        {
            pipe_fds p;
            p.close_end(0);
            errno = 0;
            EXPECT_EQ(::write(p.fd[1], "x", 1), -1);
            EXPECT_EQ(errno, EPIPE);
        }
        {
            pipe_fds p;  // the caller's own O_NONBLOCK: EAGAIN, as without weft
            ASSERT_EQ(::fcntl(p.fd[0], F_SETFL, O_NONBLOCK), 0);
            char c;
            errno = 0;
            EXPECT_EQ(::read(p.fd[0], &c, 1), -1);
            EXPECT_EQ(errno, EAGAIN);
        }
    });
}

TEST(Pipe, FifoReadParksAndStdioOnAPipeStillWorks) {
    char dir[] = "/tmp/weft-fifo-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/f";
    ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    weft::run([&] {
        // O_RDWR: a FIFO open that does not wait for the other end.
        const int r = ::open(path.c_str(), O_RDWR);
        ASSERT_GE(r, 0);
        const int w = ::open(path.c_str(), O_WRONLY);
        ASSERT_GE(w, 0);
        bool other_ran = false;
        weft::thread reader([&] {
            char buf[4] = {};
            EXPECT_EQ(::read(r, buf, 3), 3);
            EXPECT_TRUE(other_ran);
            EXPECT_STREQ(buf, "abc");
        });
        weft::thread other([&] {
            other_ran = true;
            EXPECT_EQ(::write(w, "abc", 3), 3);
        });
        reader.join();
        other.join();
        ::close(r);
        ::close(w);
        // stdio on a pipe a fiber uses: the fd is blocking, so fgets gets its line.
        pipe_fds p;
        EXPECT_EQ(::write(p.fd[1], "one\ntwo\n", 8), 8);
        std::FILE* f = ::fdopen(::dup(p.fd[0]), "r");
        ASSERT_NE(f, nullptr);
        char line[16];
        ASSERT_NE(std::fgets(line, sizeof line, f), nullptr);
        EXPECT_STREQ(line, "one\n");
        ASSERT_NE(std::fgets(line, sizeof line, f), nullptr);
        EXPECT_STREQ(line, "two\n");
        std::fclose(f);
    });
    ::unlink(path.c_str());
    ::rmdir(dir);
}

}  // namespace
