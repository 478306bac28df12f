// stdio on sockets a fiber uses through weft::hook: libc's FILE calls read
// and write the fd directly (no hook sees them), so the socket must stay
// blocking in the kernel for them to get every byte and no EAGAIN. Each
// stdio call may block its worker's thread meanwhile (docs/porting.md), so
// the peer here is a plain thread.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "weft/weft.hpp"

namespace {

constexpr std::size_t big = 8u << 20;

unsigned char pattern(std::size_t i) { return static_cast<unsigned char>((i * 131 + (i >> 12)) & 0xff); }

// Writes everything with plain write(2) calls (a plain thread: the hooks pass through).
void write_fully(int fd, const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
        const ssize_t k = ::write(fd, c, n);
        ASSERT_GT(k, 0) << std::strerror(errno);
        c += k;
        n -= static_cast<std::size_t>(k);
    }
}

TEST(Stdio, FgetsAndFreadOnASocketGetEveryByte) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    std::vector<unsigned char> data(big);
    for (std::size_t i = 0; i < big; ++i) data[i] = pattern(i);
    std::thread peer([&] {
        const std::string lines = "first line\nsecond line\n";
        write_fully(sv[1], lines.data(), lines.size());
        write_fully(sv[1], data.data(), data.size());
        ::shutdown(sv[1], SHUT_WR);
    });
    weft::run([&] {
        // A hooked call first, so the fd is known to the hooks as a fiber's socket.
        char c = 0;
        ASSERT_EQ(::recv(sv[0], &c, 1, MSG_PEEK), 1);
        std::FILE* f = ::fdopen(sv[0], "r");
        ASSERT_NE(f, nullptr);
        char line[64];
        ASSERT_NE(std::fgets(line, sizeof line, f), nullptr) << std::strerror(errno);
        EXPECT_STREQ(line, "first line\n");
        ASSERT_NE(std::fgets(line, sizeof line, f), nullptr) << std::strerror(errno);
        EXPECT_STREQ(line, "second line\n");
        std::vector<unsigned char> got(big + 1);
        const std::size_t n = std::fread(got.data(), 1, got.size(), f);
        EXPECT_EQ(n, big);
        EXPECT_FALSE(std::ferror(f)) << std::strerror(errno);
        EXPECT_TRUE(std::feof(f));
        got.resize(n);
        EXPECT_TRUE(got == data);
        std::fclose(f);
    });
    peer.join();
    ::close(sv[1]);
}

TEST(Stdio, FwriteOfManyMegabytesToASocketWritesThemAll) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    std::vector<unsigned char> got;
    std::thread peer([&] {
        std::vector<unsigned char> buf(64 * 1024);
        for (;;) {
            const ssize_t k = ::read(sv[1], buf.data(), buf.size());
            if (k <= 0) break;
            got.insert(got.end(), buf.begin(), buf.begin() + k);
        }
    });
    weft::run([&] {
        // A weft::thread, the way a ported server writes its responses.
        weft::thread writer([&] {
            ASSERT_EQ(::send(sv[0], "", 0, 0), 0);  // a hooked call first
            std::FILE* f = ::fdopen(sv[0], "w");
            ASSERT_NE(f, nullptr);
            std::vector<unsigned char> data(big);
            for (std::size_t i = 0; i < big; ++i) data[i] = pattern(i);
            EXPECT_EQ(std::fwrite(data.data(), 1, data.size(), f), big) << std::strerror(errno);
            EXPECT_EQ(std::fprintf(f, "tail %d\n", 42), 8);
            EXPECT_EQ(std::fflush(f), 0) << std::strerror(errno);
            EXPECT_FALSE(std::ferror(f));
            std::fclose(f);  // the peer sees EOF
        });
        writer.join();
    });
    peer.join();
    ::close(sv[1]);
    ASSERT_EQ(got.size(), big + 8);
    bool same = true;
    for (std::size_t i = 0; i < big && same; ++i) same = got[i] == pattern(i);
    EXPECT_TRUE(same);
    EXPECT_EQ(std::string(got.end() - 8, got.end()), "tail 42\n");
}

// The same socket through the hooks and through stdio in one fiber: the
// hooked calls still park (a second fiber runs meanwhile), stdio still blocks.
TEST(Stdio, HookedCallsOnTheSameSocketStillPark) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    weft::run([&] {
        bool other_ran = false;
        weft::thread reader([&] {
            char buf[4] = {};
            EXPECT_EQ(::read(sv[0], buf, 3), 3);  // parks: the fd is blocking, the call is not
            EXPECT_TRUE(other_ran);
            EXPECT_STREQ(buf, "abc");
        });
        weft::thread other([&] {
            other_ran = true;
            EXPECT_EQ(::write(sv[1], "abc", 3), 3);
        });
        reader.join();
        other.join();
        std::FILE* f = ::fdopen(::dup(sv[1]), "w");
        ASSERT_NE(f, nullptr);
        EXPECT_GE(std::fputs("line\n", f), 0);
        std::fclose(f);
        char line[8] = {};
        EXPECT_EQ(::read(sv[0], line, sizeof line), 5);
        EXPECT_STREQ(line, "line\n");
    });
    ::close(sv[0]);
    ::close(sv[1]);
}

}  // namespace
