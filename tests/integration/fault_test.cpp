// Fault tests on loopback that the unit suites do not cover: existing
// connections served while accept is starved of fds (and recovery after), a
// peer that resets while the server is in the middle of a large write, and an
// exception escaping a detached fiber (the process stops with a message that
// names the fiber and the error).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "weft/weft.hpp"

namespace {
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using weft::net::address;
using weft::net::tcp_listener;
using weft::net::tcp_stream;

// Every blocking call runs under a scope this long, so a wait the runtime
// never ends fails the test instead of hanging it.
constexpr auto guard_time = 30s;

int count_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
        return n - 1;  // the directory's own fd
    }
    return -1;
}

void echo_until_eof(tcp_stream& s) {
    std::array<char, 4096> buf;
    for (int i = 0; i < 1'000'000; ++i) {
        std::error_code ec;
        const std::size_t n = s.read(buf.data(), buf.size(), ec);
        if (ec || n == 0) return;
        s.write_all(buf.data(), n, ec);
        if (ec) return;
    }
}

// One echo round trip of `n` bytes; an empty error_code on success.
std::error_code round_trip(tcp_stream& c, std::size_t n, unsigned char seed, std::chrono::milliseconds wait) {
    std::vector<unsigned char> out(n), in(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(seed + i * 7);
    std::error_code ec;
    c.write_all(out.data(), n, ec);
    if (ec) return ec;
    c.read_exact(in.data(), n, ec, wait);
    if (ec) return ec;
    if (in != out) return std::make_error_code(std::errc::illegal_byte_sequence);
    return {};
}

// ---- accept starved of fds -------------------------------------------------------------

// Runs in a death-test child (it lowers RLIMIT_NOFILE). Returns 0, or the
// number of the check that failed (printed to stderr).
int fd_starvation_child() {
    int rc = 0;
    auto fail = [&rc](int code, const char* what, std::error_code ec = {}) {
        std::fprintf(stderr, "fd starvation: check %d: %s%s%s\n", code, what, ec ? ": " : "",
                     ec ? ec.message().c_str() : "");
        std::fflush(stderr);
        if (rc == 0) rc = code;
    };
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1;
    // Room for the listener, the reactor, four connections (two fds each)
    // and some to spare; whatever is left gets hoarded below.
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(count_fds()) + 64);
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return 2;

    weft::run([&] {
        weft::deadline_scope guard{guard_time};
        std::error_code ec;
        tcp_listener l = tcp_listener::bind(address::loopback_v4(0), ec);
        if (ec) return fail(3, "bind", ec);
        const address at = l.local_address();

        bool stop = false;
        std::vector<weft::fiber_handle> handlers;
        auto acceptor = weft::spawn([&] {
            for (int i = 0; i < 100'000 && !stop; ++i) {
                std::error_code aec;
                tcp_stream s = l.accept(aec, 50ms);
                if (aec == std::errc::timed_out) continue;
                if (aec) return fail(4, "accept surfaced an error instead of backing off", aec);
                handlers.push_back(weft::spawn([s = std::move(s)]() mutable { echo_until_eof(s); },
                                               {.name = "echo"}));
            }
        }, {.name = "acceptor"});

        std::vector<tcp_stream> existing;
        for (int i = 0; i < 4; ++i) {
            std::error_code cec;
            existing.push_back(tcp_stream::connect(at, cec, 5s));
            if (cec) return fail(5, "connect before starvation", cec);
            if (auto e = round_trip(existing.back(), 100, static_cast<unsigned char>(i), 5s))
                return fail(6, "echo before starvation", e);
        }

        // Take every free fd, then give one back: the next client takes it
        // for its own socket, and accept is left with none.
        std::vector<int> hoard;
        for (int i = 0; i < 100'000; ++i) {
            const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0) break;
            hoard.push_back(fd);
        }
        if (hoard.empty()) return fail(7, "could not take the free fds");
        ::close(hoard.back());
        hoard.pop_back();
        std::error_code pec;
        tcp_stream pending = tcp_stream::connect(at, pec, 5s);  // the kernel completes it; accept cannot
        if (pec) return fail(8, "connect of the pending client", pec);
        pending.write_all("p", 1, pec);
        char r = 0;
        pending.read_exact(&r, 1, pec, 300ms);
        if (pec != std::errc::timed_out) return fail(9, "the pending client was served: accept was not starved", pec);

        // Starved: the established connections are still served, many times over.
        for (int round = 0; round < 20; ++round) {
            for (std::size_t i = 0; i < existing.size(); ++i) {
                if (auto e = round_trip(existing[i], 1 + round * 997, static_cast<unsigned char>(round), 10s))
                    return fail(10, "echo on an established connection while accept is starved", e);
            }
            weft::this_fiber::sleep_for(10ms);
        }

        // Recovery: fds come back, the pending client and new ones are served.
        for (int fd : hoard) ::close(fd);
        hoard.clear();
        pending.read_exact(&r, 1, pec, 10s);
        if (pec || r != 'p') return fail(11, "the pending client was not served after recovery", pec);
        for (int i = 0; i < 8; ++i) {
            std::error_code nec;
            tcp_stream c = tcp_stream::connect(at, nec, 5s);
            if (nec) return fail(12, "connect after recovery", nec);
            if (auto e = round_trip(c, 4096, static_cast<unsigned char>(i), 10s))
                return fail(13, "echo after recovery", e);
        }
        stop = true;
        existing.clear();
        pending.close();
        acceptor.join();
        for (auto& h : handlers) h.join();
    });
    return rc;
}

TEST(FdStarvationDeathTest, EstablishedConnectionsAreServedWhileAcceptIsStarvedAndItRecovers) {
    EXPECT_EXIT(std::_Exit(fd_starvation_child()), ::testing::ExitedWithCode(0), "");
}

// ---- peer reset in the middle of a large server-side write -------------------------------

enum class write_form { write_all, writev_all };

void reset_mid_large_write(write_form form) {
    std::signal(SIGPIPE, SIG_DFL);  // weft must not raise it: it would kill this process
    // One round first: what weft opens once per process (the stack pool's
    // pidfd for process_madvise) is not a leak.
    weft::run([] { tcp_listener::bind(address::loopback_v4(0)); });
    const int fds_before = count_fds();
    weft::run([form] {
        weft::deadline_scope guard{guard_time};
        tcp_listener l = tcp_listener::bind(address::loopback_v4(0));
        const address at = l.local_address();

        // The big one: 64 MiB of a known pattern to a client that reads 1 MiB
        // of it, checks it, then resets the connection.
        const std::size_t total = 64u << 20, read_before_reset = 1u << 20;
        std::vector<unsigned char> big(total);
        for (std::size_t i = 0; i < total; ++i) big[i] = static_cast<unsigned char>(i * 31 + (i >> 12));
        std::error_code write_ec;
        std::size_t written = 0;
        int server_fd = -1;
        auto server = weft::spawn([&] {
            tcp_stream s = l.accept();
            server_fd = s.native_handle();
            if (form == write_form::write_all) {
                written = s.write_all(big.data(), big.size(), write_ec);
            } else {
                // Four buffers, so the reset lands in the middle of a vectored write.
                const std::size_t q = total / 4;
                const weft::net::const_buffer bufs[4] = {{big.data(), q}, {big.data() + q, q},
                                                         {big.data() + 2 * q, q}, {big.data() + 3 * q, q}};
                written = s.writev_all(std::span<const weft::net::const_buffer>(bufs, 4), write_ec);
            }
            // A connection known to be dead keeps failing the same way, without a signal.
            std::error_code again;
            s.write_all(big.data(), 4096, again);
            EXPECT_TRUE(again == std::errc::connection_reset || again == std::errc::broken_pipe)
                << again.message();
        }, {.name = "big-writer"});

        // Another connection on the same worker, echoing all along.
        auto echo_server = weft::spawn([&] {
            tcp_stream s = l.accept();
            echo_until_eof(s);
        }, {.name = "echo"});

        tcp_stream c = tcp_stream::connect(at);
        std::vector<unsigned char> got(read_before_reset);
        ASSERT_EQ(c.read_exact(got.data(), got.size()), got.size());
        ASSERT_EQ(std::memcmp(got.data(), big.data(), got.size()), 0) << "the bytes before the reset differ";
        tcp_stream other = tcp_stream::connect(at);
        ASSERT_FALSE(round_trip(other, 1000, 1, 10s));
        const linger lg{1, 0};
        ASSERT_EQ(::setsockopt(c.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        c.close();  // RST, with the writer blocked on a full socket buffer

        server.join();
        EXPECT_TRUE(write_ec == std::errc::connection_reset || write_ec == std::errc::broken_pipe)
            << write_ec.message();
        EXPECT_GE(written, read_before_reset);
        EXPECT_LT(written, total);
        EXPECT_NE(server_fd, -1);
        // The other connection never noticed.
        for (int i = 0; i < 10; ++i) ASSERT_FALSE(round_trip(other, 10'000 + i, static_cast<unsigned char>(i), 10s));
        other.close();
        echo_server.join();
    });
    EXPECT_EQ(count_fds(), fds_before) << "an fd leaked";
}

TEST(PeerReset, InTheMiddleOfALargeServerWriteAll) { reset_mid_large_write(write_form::write_all); }

TEST(PeerReset, InTheMiddleOfALargeServerWritevAll) { reset_mid_large_write(write_form::writev_all); }

// ---- exceptions escaping detached fibers ---------------------------------------------------
// Policy: an exception that escapes a detached fiber has nobody to go to; the
// process stops (abort) with "weft: uncaught exception in detached fiber
// 'NAME' #ID: WHAT" on stderr, as std::thread calls std::terminate.

// A connection handler using the throwing forms, detached, whose peer
// resets: the socket error ends the process and the message says which
// fiber and which error, while other fibers are parked on I/O.
void detached_handler_gets_reset() {
    std::signal(SIGPIPE, SIG_IGN);
    weft::run([] {
        weft::deadline_scope guard{guard_time};
        tcp_listener l = tcp_listener::bind(address::loopback_v4(0));
        auto waiting = weft::spawn([] {
            std::error_code ec;
            weft::this_fiber::sleep_for(20s, ec);  // parked the whole time
        }, {.name = "bystander"});
        weft::spawn([&l]() {
            tcp_stream s = l.accept();
            char buf[64];
            for (int i = 0; i < 100; ++i) {
                const std::size_t n = s.read(buf, sizeof buf);  // throws on the reset
                if (n == 0) weft::this_fiber::sleep_for(10ms);
                else s.write_all(buf, n);
            }
        }, {.name = "conn-handler"}).detach();
        tcp_stream c = tcp_stream::connect(l.local_address());
        c.write_all("x", 1);
        char r;
        c.read_exact(&r, 1);
        const linger lg{1, 0};
        ::setsockopt(c.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        c.close();
        weft::this_fiber::sleep_for(20s);  // the handler's exception ends the process before this
        waiting.join();
    });
    std::fprintf(stderr, "still alive\n");
}

TEST(DetachedFiberDeathTest, SocketErrorInADetachedHandlerNamesTheFiberAndTheError) {
    EXPECT_DEATH(detached_handler_gets_reset(),
                 "weft: uncaught exception in detached fiber 'conn-handler' #[0-9]+: "
                 "weft::net::tcp_stream::read: Connection reset by peer");
}

TEST(DetachedFiberDeathTest, ANonStandardExceptionIsReportedAsUnknown) {
    EXPECT_DEATH(weft::run([] {
                     weft::spawn([] {
                         weft::this_fiber::sleep_for(1ms);  // thrown after it has parked and resumed
                         throw 42;
                     }, {.name = "int-thrower"}).detach();
                 }),
                 "weft: uncaught exception in detached fiber 'int-thrower' #[0-9]+: unknown exception");
}

TEST(DetachedFiberDeathTest, AnUnnamedFiberIsStillIdentified) {
    EXPECT_DEATH(weft::run([] { weft::spawn([] { throw std::logic_error("no name"); }).detach(); }),
                 "weft: uncaught exception in detached fiber '' #[0-9]+: no name");
}

}  // namespace
