// weft::net under stress and faults: peer reset without SIGPIPE, many
// connections on one worker, a spinning fiber beside I/O, accept under fd
// exhaustion, stale readiness after fd reuse.
#include <gtest/gtest.h>

#include "net_test_support.hpp"

namespace {
using namespace weft_net_test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using weft::net::address;
using weft::net::tcp_listener;
using weft::net::tcp_stream;

// ---- peer reset -------------------------------------------------------------------------

TEST(Tcp, PeerResetMidWriteIsAnErrorNotSigpipe) {
    std::signal(SIGPIPE, SIG_DFL);  // a SIGPIPE would kill this process
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        scoped_fiber server([&] {
            weft::deadline_scope g{kGuard};
            std::error_code ec;
            tcp_stream s = l.accept(ec);
            ASSERT_FALSE(ec) << ec.message();
            weft::this_fiber::sleep_for(50ms);  // let the client fill the buffers and block
            const linger lg{1, 0};
            ASSERT_EQ(::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
            s.close();  // RST
        });
        std::error_code ec;
        tcp_stream c = tcp_stream::connect(l.local_address(), ec);
        ASSERT_FALSE(ec) << ec.message();
        const std::vector<unsigned char> big(64u << 20, 0x5a);
        const std::size_t sent = c.write_all(big.data(), big.size(), ec);
        EXPECT_TRUE(ec == std::errc::connection_reset || ec == std::errc::broken_pipe) << ec.message();
        EXPECT_LT(sent, big.size());
        // and again, once the connection is known dead
        c.write_all(big.data(), 4096, ec);
        EXPECT_TRUE(ec == std::errc::connection_reset || ec == std::errc::broken_pipe) << ec.message();
        server.join();
    });
}

// ---- many connections, one worker --------------------------------------------------------

TEST(Tcp, ManyConcurrentConnectionsOnOneWorker) {
    rlimit rl{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    const long soft = rl.rlim_cur == RLIM_INFINITY ? 1'000'000L : static_cast<long>(rl.rlim_cur);
#if WEFT_STRESS_LARGE
    constexpr long wanted = 10000;
#elif WEFT_ASAN || WEFT_TSAN
    constexpr long wanted = 500;  // TSan tracks every fiber like a thread, up to 8128
#else
    constexpr long wanted = 2000;
#endif
    const int n = static_cast<int>(std::min(wanted, (soft - 64) / 2));
    if (n < 8) GTEST_SKIP() << "RLIMIT_NOFILE too low: " << soft;
    constexpr int kMessages = 4;
    constexpr std::size_t kMsgSize = 48;

    int ok_clients = 0;
    int accepted = 0;
    weft::run([&] {
        weft::deadline_scope guard{60s};
        tcp_listener l = listen_v4();
        const address at = l.local_address();
        std::vector<weft::fiber_handle> echoes;
        echoes.reserve(static_cast<std::size_t>(n));
        scoped_fiber acceptor([&] {
            weft::deadline_scope g{60s};
            for (int i = 0; i < n; ++i) {
                std::error_code ec;
                tcp_stream s = l.accept(ec);
                if (ec) {
                    ADD_FAILURE() << "accept #" << i << ": " << ec.message();
                    return;
                }
                ++accepted;
                echoes.push_back(weft::spawn([s = std::move(s)]() mutable {
                    weft::deadline_scope g2{60s};
                    echo_until_eof(s);
                }));
            }
        });
        std::vector<weft::fiber_handle> clients;
        clients.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i)
            clients.push_back(weft::spawn([&, i] {
                weft::deadline_scope g{60s};
                std::error_code ec;
                tcp_stream c = tcp_stream::connect(at, ec);
                if (ec) {
                    ADD_FAILURE() << "connect #" << i << ": " << ec.message();
                    return;
                }
                for (int m = 0; m < kMessages; ++m) {
                    std::string msg = "client " + std::to_string(i) + " message " + std::to_string(m);
                    msg.resize(kMsgSize, '.');
                    c.write_all(msg.data(), msg.size(), ec);
                    if (ec) {
                        ADD_FAILURE() << "write #" << i << ": " << ec.message();
                        return;
                    }
                    std::string got(kMsgSize, '\0');
                    c.read_exact(got.data(), got.size(), ec);
                    if (ec || got != msg) {
                        ADD_FAILURE() << "echo #" << i << ": " << ec.message() << " got '" << got << "'";
                        return;
                    }
                    weft::this_fiber::yield();
                }
                ++ok_clients;
            }));
        for (auto& h : clients) h.join();
        acceptor.join();
        for (auto& h : echoes) h.join();
    });
    EXPECT_EQ(accepted, n);
    EXPECT_EQ(ok_clients, n);
}

// ---- a spinning fiber does not starve I/O ---------------------------------------------------

TEST(Tcp, SpinningFiberDoesNotStarveIo) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        bool echo_done = false;
        bool spinning = false;
        bool spinner_gave_up = false;
        long spins = 0;
        scoped_fiber spinner([&] {
            spinning = true;
            const auto until = steady::now() + 5s;
            while (!echo_done) {
                if (steady::now() >= until) {
                    spinner_gave_up = true;
                    break;
                }
                ++spins;
                weft::this_fiber::yield();
            }
            spinning = false;
        });
        weft::this_fiber::yield();  // the spinner is running from here on
        ASSERT_TRUE(spinning);
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        scoped_fiber server([&] {
            weft::deadline_scope g{kGuard};
            echo_until_eof(p.server);
        });
        std::error_code ec;
        char buf[4];
        for (int i = 0; i < 3; ++i) {
            p.client.write_all("ping", 4, ec);
            p.client.read_exact(buf, 4, ec);
            EXPECT_FALSE(ec) << ec.message();
            EXPECT_EQ(std::string(buf, 4), "ping");
        }
        const bool completed_while_spinning = spinning;
        echo_done = true;
        p.client.shutdown_write();
        server.join();
        spinner.join();
        EXPECT_TRUE(completed_while_spinning);
        EXPECT_FALSE(spinner_gave_up) << "the echo only finished after the spinner stopped";
        EXPECT_GT(spins, 0);
    });
}

// ---- accept under fd exhaustion ---------------------------------------------------------------

std::vector<int> open_fds() {
    std::vector<int> fds;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        const int own = ::dirfd(d);
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && std::atoi(e->d_name) != own)
                fds.push_back(std::atoi(e->d_name));
        ::closedir(d);
    } else {
        for (int fd = 0; fd < 4096; ++fd)
            if (::fcntl(fd, F_GETFD) != -1) fds.push_back(fd);
    }
    return fds;
}

// The RLIMIT_NOFILE soft limit that leaves exactly `free_slots` fd numbers
// free below it (new fds take the lowest free number under the limit; open
// fds above it stay open but do not count).
rlim_t limit_leaving(int free_slots) {
    const std::vector<int> open = open_fds();
    int free = 0;
    for (int fd = 0; fd < 1'000'000; ++fd) {
        if (std::find(open.begin(), open.end(), fd) != open.end()) continue;
        if (++free == free_slots) return static_cast<rlim_t>(fd + 1);
    }
    return 1'000'000;
}

// Runs in a death-test child: lowers RLIMIT_NOFILE, fills the table with
// connections until accept() hits EMFILE, then frees some and checks that
// the pending connection and a new one are both accepted and served.
int fd_exhaustion_child() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 10;
    rl.rlim_cur = limit_leaving(16);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return 11;

    int rc = 0;
    auto fail = [&rc](int code, const char* what, std::error_code ec = {}) {
        std::fprintf(stderr, "fd exhaustion: %s%s%s\n", what, ec ? ": " : "", ec ? ec.message().c_str() : "");
        std::fflush(stderr);
        if (rc == 0) rc = code;
    };
    weft::run([&] {
        weft::deadline_scope guard{30s};
        std::error_code ec;
        tcp_listener l = tcp_listener::bind(address::loopback_v4(0), ec);
        if (ec) return fail(12, "bind", ec);
        const address at = l.local_address();
        int reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // freed to leave exactly one fd

        bool stop = false;
        std::vector<weft::fiber_handle> echoes;
        auto acceptor = weft::spawn([&] {
            weft::deadline_scope g{30s};
            const auto until = steady::now() + 25s;
            while (!stop && steady::now() < until) {
                std::error_code aec;
                tcp_stream s = l.accept(aec, 100ms);
                if (aec == std::errc::timed_out) continue;
                if (aec) return fail(13, "accept", aec);  // EMFILE must not surface
                echoes.push_back(weft::spawn([s = std::move(s)]() mutable {
                    weft::deadline_scope g2{30s};
                    echo_until_eof(s);
                }));
            }
        });

        std::vector<tcp_stream> clients;
        bool pending = false;
        for (int i = 0; i < 64 && !pending && rc == 0; ++i) {
            std::error_code cec;
            tcp_stream c = tcp_stream::connect(at, cec, 2s);
            if (cec == std::errc::too_many_files_open) {
                if (reserve < 0) {
                    fail(14, "out of fds without accept ever hitting EMFILE");
                    break;
                }
                ::close(reserve);  // exactly one free fd: the next client takes it, accept gets none
                reserve = -1;
                continue;
            }
            if (cec) {
                fail(15, "connect", cec);
                break;
            }
            const char b = static_cast<char>('a' + i % 26);
            char r = 0;
            c.write_all(&b, 1, cec);
            if (!cec) c.read_exact(&r, 1, cec, 300ms);
            clients.push_back(std::move(c));
            if (cec == std::errc::timed_out) {
                pending = true;  // accept could not get an fd for it
            } else if (cec || r != b) {
                fail(16, "echo before exhaustion", cec);
            }
        }
        if (rc == 0 && !pending) fail(17, "never reached accept exhaustion");
        if (rc == 0) {
            const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (probe >= 0) {
                ::close(probe);
                fail(18, "the pending client timed out, yet the process has free fds");
            } else if (errno != EMFILE) {
                fail(19, "probe open failed with something other than EMFILE");
            }
        }
        if (rc == 0) {
            // free some: close three served clients; their echo fibers see EOF and close too
            for (std::size_t i = 0; i < 3 && i + 1 < clients.size(); ++i) clients[i].close();
            char r = 0;
            std::error_code pec;
            clients.back().read_exact(&r, 1, pec, 10s);
            if (pec) fail(20, "the pending client was never served", pec);
            // and a brand-new client gets accepted and served
            std::error_code nec;
            tcp_stream fresh = tcp_stream::connect(at, nec, 5s);
            if (nec) {
                fail(21, "connect after recovery", nec);
            } else {
                fresh.write_all("z", 1, nec);
                if (!nec) fresh.read_exact(&r, 1, nec, 10s);
                if (nec || r != 'z') fail(22, "echo after recovery", nec);
            }
        }
        stop = true;
        clients.clear();
        if (reserve >= 0) ::close(reserve);
        acceptor.join();
        for (auto& h : echoes) h.join();
    });
    return rc;
}

TEST(NetDeathTest, AcceptBacksOffAndRecoversFromFdExhaustion) {
    EXPECT_EXIT(std::_Exit(fd_exhaustion_child()), ::testing::ExitedWithCode(0), "");
}

// ---- stale readiness after fd reuse ------------------------------------------------------------

TEST(Tcp, StaleReadinessIsNotDeliveredAfterFdReuse) {
    bool reused = true;
    weft::run([&] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair a = connect_pair(l);
        const int fd_a = a.server.native_handle();

        std::error_code first_read, first_sleep;
        std::chrono::nanoseconds slept{};
        bool first_woke = false;
        scoped_fiber first([&] {
            weft::deadline_scope g{kGuard};
            char b;
            a.server.read(&b, 1, first_read);
            first_woke = true;
            // woken by the close; now sleep: a stale wake for fd A would cut this short
            const auto start = steady::now();
            weft::this_fiber::sleep_for(300ms, first_sleep);
            slept = steady::now() - start;
        });
        weft::this_fiber::sleep_for(20ms);
        a.server.close();
        // Woken by the close: at once on epoll; on io_uring once the ring has
        // canceled the read in the kernel (the worker's next poll).
        for (int i = 0; i < 10000 && !first_woke; ++i) weft::this_fiber::yield();
        EXPECT_EQ(first_read, std::errc::bad_file_descriptor) << first_read.message();

        // a new socket takes the lowest free fd: A, if nothing else is free below it
        conn_pair b = connect_pair(l);
        reused = b.client.native_handle() == fd_a;
        if (reused) {
            std::error_code rec;
            char got = 0;
            std::size_t n = 0;
            scoped_fiber second([&] {
                weft::deadline_scope g{kGuard};
                n = b.client.read(&got, 1, rec);
            });
            weft::this_fiber::yield();  // the new reader is parked on fd A now
            b.server.write_all("N", 1);  // fd A becomes readable
            second.join();
            EXPECT_FALSE(rec) << rec.message();
            EXPECT_EQ(n, 1u);
            EXPECT_EQ(got, 'N');
        }
        first.join();
        EXPECT_FALSE(first_sleep) << first_sleep.message();
        EXPECT_GE(slept, 300ms) << "the first fiber was woken during its sleep";
    });
    if (!reused) GTEST_SKIP() << "the new socket did not reuse the closed fd number";
}

}  // namespace
