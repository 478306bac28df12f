// tcp_stream::send_file (sendfile(2) from a file to the socket), on whatever
// backend the workers take: a whole file arrives intact (checksummed) with
// the file's offset unmoved, a peer that never reads makes the deadline end
// it (timed_out, the bytes that went out counted), a file shorter than asked
// gives net_errc::eof after what it had, bad descriptors are
// bad_file_descriptor, and a peer that went away is an error, not SIGPIPE.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "net_test_support.hpp"

namespace {
using namespace weft_net_test;
using namespace std::chrono_literals;

// A temporary file holding `size` bytes of a pattern, removed at the end.
struct temp_file {
    int fd = -1;
    std::vector<unsigned char> bytes;
    explicit temp_file(std::size_t size) : bytes(size) {
        const char* t = std::getenv("TMPDIR");
        std::string path = std::string(t && *t ? t : "/tmp") + "/weft-send-file-XXXXXX";
        fd = ::mkstemp(path.data());
        EXPECT_GE(fd, 0);
        ::unlink(path.c_str());
        for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>(i * 2654435761u >> 13);
        std::size_t done = 0;
        while (done < size) {
            const ssize_t n = ::pwrite(fd, bytes.data() + done, size - done, static_cast<off_t>(done));
            EXPECT_GT(n, 0);
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
    }
    ~temp_file() { ::close(fd); }
};

std::uint64_t fnv1a(const unsigned char* p, std::size_t n) {
    std::uint64_t h = 1469598103934665603ull;
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

TEST(NetSendFile, WholeFileArrivesIntact) {
    temp_file f(3u << 20 | 12345);  // larger than a socket buffer: the sender parks on the way
    weft::run([&] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::vector<unsigned char> got;
        scoped_fiber reader([&] {
            std::vector<char> buf(65536);  // not on the fiber's small stack
            for (;;) {
                std::error_code ec;
                const std::size_t n = p.client.read(buf.data(), buf.size(), ec, 10s);
                ASSERT_FALSE(ec) << ec.message();
                if (n == 0) break;
                got.insert(got.end(), buf.data(), buf.data() + n);
            }
        });
        std::error_code ec;
        EXPECT_EQ(p.server.send_file(f.fd, 0, f.bytes.size(), ec, 10s), f.bytes.size());
        EXPECT_FALSE(ec) << ec.message();
        // A range from the middle.
        EXPECT_EQ(p.server.send_file(f.fd, 1000, 5000, ec, 10s), 5000u);
        EXPECT_FALSE(ec);
        p.server.shutdown_write();
        reader.join();
        ASSERT_EQ(got.size(), f.bytes.size() + 5000);
        EXPECT_EQ(fnv1a(got.data(), f.bytes.size()), fnv1a(f.bytes.data(), f.bytes.size()));
        EXPECT_EQ(fnv1a(got.data() + f.bytes.size(), 5000), fnv1a(f.bytes.data() + 1000, 5000));
        EXPECT_EQ(::lseek(f.fd, 0, SEEK_CUR), 0);  // the file's own offset did not move
    });
}

TEST(NetSendFile, PeerThatNeverReadsMeetsTheDeadline) {
    temp_file f(16u << 20);  // far more than the socket buffers on both sides hold
    weft::run([&] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        const std::size_t n = p.server.send_file(f.fd, 0, f.bytes.size(), ec, 200ms);
        EXPECT_EQ(ec, std::errc::timed_out);
        EXPECT_GT(n, 0u);  // what fit in the buffers went out, and is counted
        EXPECT_LT(n, f.bytes.size());
        // The throwing form throws the same.
        EXPECT_THROW(p.server.send_file(f.fd, n, f.bytes.size() - n, 50ms), std::system_error);
    });
}

TEST(NetSendFile, ShortFileEndsWithEof) {
    temp_file f(10000);
    weft::run([&] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        EXPECT_EQ(p.server.send_file(f.fd, 4000, 100000, ec, 10s), 6000u);
        EXPECT_EQ(ec, weft::net::net_errc::eof);
        EXPECT_EQ(p.server.send_file(f.fd, 20000, 10, ec, 10s), 0u);  // past the end
        EXPECT_EQ(ec, weft::net::net_errc::eof);
        EXPECT_EQ(p.server.send_file(f.fd, 0, 0, ec, 10s), 0u);  // nothing asked: nothing, no error
        EXPECT_FALSE(ec);
        std::vector<unsigned char> got(6000);
        EXPECT_EQ(p.client.read_exact(got.data(), got.size(), ec, 10s), got.size());
        EXPECT_TRUE(std::equal(got.begin(), got.end(), f.bytes.begin() + 4000));
    });
}

TEST(NetSendFile, BadDescriptors) {
    temp_file f(100);
    weft::run([&] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        EXPECT_EQ(p.server.send_file(-1, 0, 10, ec), 0u);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        const int closed = ::dup(f.fd);
        ::close(closed);
        EXPECT_EQ(p.server.send_file(closed, 0, 10, ec), 0u);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        const int write_only = ::open("/dev/null", O_WRONLY);
        EXPECT_EQ(p.server.send_file(write_only, 0, 10, ec), 0u);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        ::close(write_only);
        tcp_stream none;
        EXPECT_EQ(none.send_file(f.fd, 0, 10, ec), 0u);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
    });
}

TEST(NetSendFile, PeerGoneIsAnErrorNotSigpipe) {
    // SIGPIPE left at its default: raised, it would end the test program.
    struct sigaction old{}, dfl{};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, &old);
    temp_file f(4u << 20);
    weft::run([&] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        p.client.close();
        std::error_code ec;
        // The first bytes may go out before the reset arrives: send until it does.
        for (int i = 0; i < 100 && !ec; ++i) p.server.send_file(f.fd, 0, f.bytes.size(), ec, 10s);
        EXPECT_TRUE(ec == std::errc::broken_pipe || ec == std::errc::connection_reset) << ec.message();
        sigset_t pending;
        sigpending(&pending);
        EXPECT_FALSE(sigismember(&pending, SIGPIPE));
    });
    ::sigaction(SIGPIPE, &old, nullptr);
}

}  // namespace
