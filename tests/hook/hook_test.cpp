// libc hooks on fibers: blocking calls park only their fiber, the caller's
// view of O_NONBLOCK and socket timeouts is kept, close and dup keep the fd
// table right, and outside a fiber every call passes straight through.
// Every wait is bounded (SO_RCVTIMEO, poll timeouts or a deadline).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// What the kernel says, bypassing the hooks.
long kernel_flags(int fd) { return ::syscall(SYS_fcntl, fd, F_GETFL, 0); }

// A connected pair of stream sockets made by the hooked socket/connect/accept.
struct tcp_pair {
    int client = -1;
    int server = -1;
};

int listen_loopback(std::uint16_t& port) {
    const int l = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(l, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(l, 4096), 0);
    socklen_t len = sizeof a;
    ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return l;
}

int connect_loopback(std::uint16_t port) {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ADD_FAILURE() << "connect: " << std::strerror(errno);
        ::close(c);
        return -1;
    }
    return c;
}

tcp_pair make_pair() {
    std::uint16_t port = 0;
    const int l = listen_loopback(port);
    tcp_pair p;
    weft::thread t([&] { p.server = ::accept(l, nullptr, nullptr); });
    p.client = connect_loopback(port);
    t.join();
    ::close(l);
    return p;
}

void set_recv_timeout(int fd, std::chrono::milliseconds ms) {
    timeval tv{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
    ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
}

TEST(Hook, SocketsStayBlockingInTheKernel) {
    weft::run([] {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_GE(fd, 0);
        // Blocking as made: libc's own calls (stdio) see what the caller sees.
        EXPECT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        EXPECT_EQ(kernel_flags(fd) & O_NONBLOCK, 0);
        ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
        EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        EXPECT_NE(kernel_flags(fd) & O_NONBLOCK, 0);
        ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK), 0);
        EXPECT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        EXPECT_EQ(kernel_flags(fd) & O_NONBLOCK, 0);
        int on = 1;
        ASSERT_EQ(::ioctl(fd, FIONBIO, &on), 0);
        EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        on = 0;
        ASSERT_EQ(::ioctl(fd, FIONBIO, &on), 0);
        EXPECT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        EXPECT_EQ(::close(fd), 0);
        // A connected pair stays blocking; a listener a fiber accepted on is
        // non-blocking underneath (accept has no per-call form), and the
        // caller's view of it is unchanged.
        std::uint16_t port = 0;
        const int l = listen_loopback(port);
        int server = -1;
        weft::thread t([&] { server = ::accept(l, nullptr, nullptr); });
        const int client = connect_loopback(port);
        t.join();
        ASSERT_GE(server, 0);
        EXPECT_EQ(kernel_flags(client) & O_NONBLOCK, 0);
        EXPECT_EQ(kernel_flags(server) & O_NONBLOCK, 0);
        EXPECT_NE(kernel_flags(l) & O_NONBLOCK, 0);
        EXPECT_EQ(::fcntl(l, F_GETFL) & O_NONBLOCK, 0);
        for (int fd2 : {client, server, l}) EXPECT_EQ(::close(fd2), 0);
    });
}

TEST(Hook, OutsideAFiberEverythingPassesThrough) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(kernel_flags(fd) & O_NONBLOCK, 0);
    ::close(fd);
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    EXPECT_EQ(::write(p[1], "abc", 3), 3);
    char buf[8];
    EXPECT_EQ(::read(p[0], buf, sizeof buf), 3);
    pollfd pf{p[0], POLLIN, 0};
    EXPECT_EQ(::poll(&pf, 1, 0), 0);
    ::close(p[0]);
    ::close(p[1]);
}

TEST(Hook, BlockingReadsParkOnlyTheirFiber) {
    weft::run([] {
        constexpr int n = 50;
        std::vector<tcp_pair> pairs;
        for (int i = 0; i < n; ++i) pairs.push_back(make_pair());
        std::atomic<int> in_read{0};
        int peak = 0;
        std::vector<weft::thread> readers;
        for (int i = 0; i < n; ++i) {
            readers.emplace_back([&, i] {
                set_recv_timeout(pairs[i].server, 20s);
                ++in_read;
                peak = std::max(peak, in_read.load());
                char buf[16];
                const ssize_t r = ::read(pairs[i].server, buf, sizeof buf);
                --in_read;
                ASSERT_EQ(r, 5);
                EXPECT_EQ(std::string(buf, 5), "hello");
            });
        }
        // Every reader is parked in read() before anything is written.
        weft::this_thread::sleep_for(10ms);
        EXPECT_EQ(in_read.load(), n);
        for (auto& p : pairs) ASSERT_EQ(::write(p.client, "hello", 5), 5);
        for (auto& t : readers) t.join();
        EXPECT_EQ(peak, n);
        for (auto& p : pairs) {
            ::close(p.client);
            ::close(p.server);
        }
    });
}

TEST(Hook, LargeWritesCompleteLikeBlockingOnes) {
    weft::run([] {
        tcp_pair p = make_pair();
        constexpr std::size_t size = 8 << 20;  // far beyond the socket buffers
        std::vector<char> out(size);
        for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>(i * 7 + (i >> 12));
        weft::thread writer([&] { EXPECT_EQ(::write(p.client, out.data(), size), static_cast<ssize_t>(size)); });
        std::vector<char> in(size);
        set_recv_timeout(p.server, 20s);
        // MSG_WAITALL gathers the whole message, as on a blocking socket.
        EXPECT_EQ(::recv(p.server, in.data(), size, MSG_WAITALL), static_cast<ssize_t>(size));
        writer.join();
        EXPECT_TRUE(in == out);
        ::close(p.client);
        ::close(p.server);
    });
}

TEST(Hook, ReceiveTimeoutIsHonouredAsADeadline) {
    weft::run([] {
        tcp_pair p = make_pair();
        set_recv_timeout(p.server, 50ms);
        char c;
        const auto t0 = steady::now();
        EXPECT_EQ(::read(p.server, &c, 1), -1);
        EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
        EXPECT_GE(steady::now() - t0, 45ms);
        timeval tv{};
        socklen_t len = sizeof tv;
        ASSERT_EQ(::getsockopt(p.server, SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
        EXPECT_NEAR(tv.tv_sec * 1000 + tv.tv_usec / 1000, 50, 10);  // the kernel keeps it in jiffies
        ::close(p.client);
        ::close(p.server);
    });
}

TEST(Hook, UserNonBlockingFdsReturnEagain) {
    weft::run([] {
        tcp_pair p = make_pair();
        ASSERT_EQ(::fcntl(p.server, F_SETFL, O_NONBLOCK), 0);
        char c;
        EXPECT_EQ(::read(p.server, &c, 1), -1);
        EXPECT_EQ(errno, EAGAIN);
        EXPECT_EQ(::recv(p.client, &c, 1, MSG_DONTWAIT), -1);
        EXPECT_EQ(errno, EAGAIN);
        ::close(p.client);
        ::close(p.server);
    });
}

TEST(Hook, CloseWakesAFiberBlockedOnTheFd) {
    weft::run([] {
        tcp_pair p = make_pair();
        set_recv_timeout(p.server, 20s);
        int err = 0;
        weft::thread reader([&] {
            char c;
            EXPECT_EQ(::read(p.server, &c, 1), -1);
            err = errno;
        });
        weft::this_thread::sleep_for(5ms);
        EXPECT_EQ(::close(p.server), 0);
        reader.join();
        EXPECT_EQ(err, EBADF);
        ::close(p.client);
    });
}

TEST(Hook, DupSharesTheBlockingView) {
    weft::run([] {
        tcp_pair p = make_pair();
        set_recv_timeout(p.server, 20s);
        const int d = ::dup(p.server);
        ASSERT_GE(d, 0);
        EXPECT_EQ(::fcntl(d, F_GETFL) & O_NONBLOCK, 0);
        const int d2 = ::fcntl(p.server, F_DUPFD_CLOEXEC, 100);
        ASSERT_GE(d2, 100);
        ASSERT_EQ(::dup2(p.server, d2), d2);
        weft::thread writer([&] {
            weft::this_thread::sleep_for(5ms);
            EXPECT_EQ(::write(p.client, "xy", 2), 2);
        });
        char buf[2];
        EXPECT_EQ(::recv(d2, buf, 2, MSG_WAITALL), 2);  // parks on the duplicate
        writer.join();
        for (int fd : {d, d2, p.server, p.client}) EXPECT_EQ(::close(fd), 0);
    });
}

TEST(Hook, PollSelectAndEpollWaitPark) {
    weft::run([] {
        tcp_pair a = make_pair();
        tcp_pair b = make_pair();
        weft::thread writer([&] {
            for (int i = 0; i < 4; ++i) {
                weft::this_thread::sleep_for(5ms);
                EXPECT_EQ(::write(i % 2 ? b.client : a.client, "z", 1), 1);
            }
        });
        char c;
        // One fd.
        pollfd one{a.server, POLLIN, 0};
        ASSERT_EQ(::poll(&one, 1, 20000), 1);
        EXPECT_TRUE(one.revents & POLLIN);
        ASSERT_EQ(::read(a.server, &c, 1), 1);
        // Several fds.
        pollfd two[2] = {{a.server, POLLIN, 0}, {b.server, POLLIN, 0}};
        ASSERT_EQ(::poll(two, 2, 20000), 1);
        EXPECT_TRUE(two[1].revents & POLLIN);
        ASSERT_EQ(::read(b.server, &c, 1), 1);
        // select.
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(a.server, &rs);
        FD_SET(b.server, &rs);
        timeval tv{20, 0};
        ASSERT_EQ(::select(std::max(a.server, b.server) + 1, &rs, nullptr, nullptr, &tv), 1);
        EXPECT_TRUE(FD_ISSET(a.server, &rs));
        EXPECT_FALSE(FD_ISSET(b.server, &rs));
        ASSERT_EQ(::read(a.server, &c, 1), 1);
        // A library's own epoll loop.
        const int ep = ::epoll_create1(EPOLL_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = b.server;
        ASSERT_EQ(::epoll_ctl(ep, EPOLL_CTL_ADD, b.server, &ev), 0);
        epoll_event got[4];
        ASSERT_EQ(::epoll_wait(ep, got, 4, 20000), 1);
        EXPECT_EQ(got[0].data.fd, b.server);
        ASSERT_EQ(::read(b.server, &c, 1), 1);
        writer.join();
        // Timeouts: nothing more comes.
        const auto t0 = steady::now();
        EXPECT_EQ(::poll(two, 2, 30), 0);
        EXPECT_EQ(::epoll_wait(ep, got, 4, 30), 0);
        EXPECT_GE(steady::now() - t0, 55ms);
        ::close(ep);
        for (int fd : {a.client, a.server, b.client, b.server}) ::close(fd);
    });
}

TEST(Hook, SleepsParkTheFiber) {
    weft::run([] {
        std::atomic<int> sleeping{0};
        int peak = 0;
        std::vector<weft::thread> ts;
        for (int k = 0; k < 4; ++k) {
            ts.emplace_back([&, k] {
                ++sleeping;
                weft::this_thread::yield();  // let every fiber start its sleep
                peak = std::max(peak, sleeping.load());
                switch (k) {
                    case 0: ::usleep(20'000); break;
                    case 1: {
                        timespec ts{0, 20'000'000};
                        ::nanosleep(&ts, nullptr);
                        break;
                    }
                    case 2: std::this_thread::sleep_for(20ms); break;
                    default: ::poll(nullptr, 0, 20); break;
                }
                --sleeping;
            });
        }
        // With the worker blocked by any sleep, this fiber could not see them all asleep.
        weft::this_thread::yield();
        weft::this_thread::yield();
        EXPECT_EQ(sleeping.load(), 4);
        for (auto& t : ts) t.join();
        EXPECT_EQ(peak, 4);
        const auto t0 = steady::now();
        EXPECT_EQ(::sleep(0), 0u);
        ::usleep(1000);
        EXPECT_GE(steady::now() - t0, 1ms);
    });
}

TEST(Hook, NameLookupsGoThroughTheOffloadPool) {
    weft::run([] {
        std::vector<weft::thread> ts;
        std::atomic<int> ok{0};
        for (int i = 0; i < 8; ++i) {
            ts.emplace_back([&] {
                addrinfo hints{};
                hints.ai_family = AF_INET;
                hints.ai_socktype = SOCK_STREAM;
                addrinfo* res = nullptr;
                if (::getaddrinfo("localhost", "6379", &hints, &res) == 0 && res) {
                    auto* sin = reinterpret_cast<sockaddr_in*>(res->ai_addr);
                    if (ntohs(sin->sin_port) == 6379) ++ok;
                    ::freeaddrinfo(res);
                }
                hostent* h = ::gethostbyname("localhost");
                if (h && h->h_addrtype == AF_INET) ++ok;
            });
        }
        for (auto& t : ts) t.join();
        EXPECT_EQ(ok.load(), 16);
    });
}

TEST(Hook, FdsOutliveARun) {
    // The second run's worker may sit at the first one's address: the hooks'
    // record of the first registration must not fool them.
    tcp_pair p;
    for (int run = 0; run < 2; ++run) {
        weft::run([&] {
            if (run == 0) p = make_pair();
            set_recv_timeout(p.server, 20s);
            weft::thread writer([&] {
                weft::this_thread::sleep_for(2ms);
                EXPECT_EQ(::write(p.client, "r", 1), 1);
            });
            char c = 0;
            EXPECT_EQ(::read(p.server, &c, 1), 1);  // parks: the reactor is this run's
            EXPECT_EQ(c, 'r');
            writer.join();
        });
    }
    EXPECT_EQ(::close(p.client), 0);
    EXPECT_EQ(::close(p.server), 0);
}

TEST(Hook, AcceptFromManyFibersOnOneListener) {
    weft::run([] {
        std::uint16_t port = 0;
        const int l = listen_loopback(port);
        constexpr int n = 20;
        std::atomic<int> served{0};
        std::vector<weft::thread> acceptors;
        for (int i = 0; i < 4; ++i) {
            acceptors.emplace_back([&] {
                while (served.load() < n) {
                    const int c = ::accept(l, nullptr, nullptr);
                    if (c < 0) return;  // the listener was closed
                    ++served;
                    EXPECT_EQ(::write(c, "k", 1), 1);
                    ::close(c);
                }
            });
        }
        for (int i = 0; i < n; ++i) {
            const int c = connect_loopback(port);
            char k = 0;
            set_recv_timeout(c, 20s);
            EXPECT_EQ(::read(c, &k, 1), 1);
            EXPECT_EQ(k, 'k');
            ::close(c);
        }
        ::close(l);  // wakes acceptors still parked
        for (auto& t : acceptors) t.join();
        EXPECT_EQ(served.load(), n);
    });
}

// Two weft::threads block in read() on one socket and two in poll() on
// another: each write wakes them, every byte is read exactly once, and poll
// reports readiness to both pollers.
TEST(Hook, SeveralThreadsReadAndPollOneFd) {
    weft::run([] {
        tcp_pair r = make_pair();
        tcp_pair q = make_pair();
        set_recv_timeout(r.server, 20s);
        std::atomic<int> bytes{0}, polled{0};
        std::vector<weft::thread> ts;
        for (int i = 0; i < 2; ++i) {
            ts.emplace_back([&] {
                for (int k = 0; k < 100; ++k) {
                    char b;
                    const ssize_t n = ::read(r.server, &b, 1);
                    if (n <= 0) return;  // EOF once every byte is taken
                    ++bytes;
                }
            });
            ts.emplace_back([&] {
                pollfd p{q.server, POLLIN, 0};
                if (::poll(&p, 1, 20'000) == 1 && (p.revents & POLLIN)) ++polled;
            });
        }
        weft::this_thread::sleep_for(10ms);  // let them park
        for (int i = 0; i < 40; ++i) {
            ASSERT_EQ(::write(r.client, "x", 1), 1);
            weft::this_thread::yield();
        }
        ASSERT_EQ(::write(q.client, "y", 1), 1);
        ::shutdown(r.client, SHUT_WR);
        for (auto& t : ts) t.join();
        EXPECT_EQ(bytes.load(), 40);
        EXPECT_EQ(polled.load(), 2);
        for (int fd : {r.client, r.server, q.client, q.server}) ::close(fd);
    });
}

}  // namespace
