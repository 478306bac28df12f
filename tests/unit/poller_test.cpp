// The poller and the one wait primitive, seen from inside: stale readiness
// after fd reuse, tickets, and the typed wait reasons the dump shows.
#include <gtest/gtest.h>

#include <sys/socket.h>
#if defined(__linux__)
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#endif
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <sstream>
#include <string>

#include "reactor/poller.hpp"
#include "sched/wait.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using namespace weft::detail;

struct sock_pair {
    int a = -1, b = -1;
    sock_pair() {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        a = sv[0];
        b = sv[1];
    }
};

// An event for a closed fd, reported after its number was reused, must not
// count as readiness of the new file.
TEST(Poller, StaleEventAfterFdReuseIsIgnored) {
    weft::run([] {
        sock_pair p;
        ASSERT_FALSE(fd_attach(p.a));
        // A wait registers p.a with this worker's backend.
        const std::uint32_t t0 = fd_ticket(p.a, false);
        auto reader = weft::spawn([&] { EXPECT_FALSE(fd_wait(p.a, false, t0, steady_now_ns() + 20'000'000'000)); });
        weft::this_fiber::yield();  // the reader parks
        const fd_entry* e = fd_table::find(p.a);
        ASSERT_NE(e, nullptr);
        const io_event stale{io_token{p.a, e->serial}, true, false, false};
        ASSERT_EQ(::write(p.b, "x", 1), 1);
        reader.join();  // woken by the real event
        const int number = p.a;
        fd_detach(p.a);
        ::close(p.a);
        ::close(p.b);
        sock_pair q;  // the lowest free numbers: one of them is `number` again
        const int reused = q.a == number ? q.a : q.b;
        ASSERT_EQ(reused, number) << "the fd number was not reused";
        ASSERT_FALSE(fd_attach(reused));
        const std::uint32_t before = fd_ticket(reused, false);
        fd_dispatch(&stale, 1);
        EXPECT_EQ(fd_ticket(reused, false), before) << "a stale event counted as readiness";
        fd_detach(q.a);
        fd_detach(q.b);
        ::close(q.a);
        ::close(q.b);
    });
}

// Readiness between the ticket and the wait is not lost: the wait returns at once.
TEST(Poller, ReadinessSinceTheTicketEndsTheWaitAtOnce) {
    weft::run([] {
        sock_pair p;
        ASSERT_FALSE(fd_attach(p.a));
        const std::uint32_t t0 = fd_ticket(p.a, false);
        auto first = weft::spawn([&] { EXPECT_FALSE(fd_wait(p.a, false, t0, steady_now_ns() + 20'000'000'000)); });
        weft::this_fiber::yield();
        ASSERT_EQ(::write(p.b, "x", 1), 1);
        first.join();
        // The ticket taken before that event is stale now: no park at all.
        EXPECT_FALSE(fd_wait(p.a, false, t0, steady_now_ns() + 20'000'000'000));
        fd_detach(p.a);
        ::close(p.a);
        ::close(p.b);
    });
}

TEST(Poller, WaitOnAnFdWeftDoesNotKnowIsBadFileDescriptor) {
    weft::run([] {
        sock_pair p;
        EXPECT_EQ(fd_wait(p.a, false, fd_ticket(p.a, false), no_deadline), std::errc::bad_file_descriptor);
        EXPECT_EQ(fd_wait(-1, false, 0, no_deadline), std::errc::bad_file_descriptor);
        ::close(p.a);
        ::close(p.b);
    });
}

// The workers' backend is the platform's (the portable build: kqueue). On
// Linux: epoll unless io_uring is asked for (WEFT_REACTOR=io_uring) and the
// kernel allows it.
#if !defined(WEFT_TEST_PORTABLE_EMULATION) && defined(__linux__)
namespace {
// Whether this process may make an io_uring: io_uring_setup(0, zeroed
// params) fails with EINVAL where it may, ENOSYS or EPERM where it may not.
bool uring_allowed() {
#if defined(WEFT_TEST_HAVE_URING)
    alignas(8) unsigned char params[256] = {};
    const long fd = ::syscall(__NR_io_uring_setup, 0u, params);
    if (fd >= 0) ::close(static_cast<int>(fd));
    return fd >= 0 || (errno != ENOSYS && errno != EPERM);
#else
    return false;
#endif
}
// What a worker left to choose takes: WEFT_REACTOR's pick, else io_uring
// where it may be made (and weft has it), else epoll.
std::string linux_backend_expected() {
    const char* env = std::getenv("WEFT_REACTOR");
    if (env && std::string(env) == "epoll") return "epoll";
    return uring_allowed() ? "io_uring" : "epoll";
}
}  // namespace
#endif

TEST(Poller, WorkersUseThePlatformBackend) {
    weft::run([] {
#if defined(WEFT_TEST_PORTABLE_EMULATION) || !defined(__linux__)
        EXPECT_STREQ(fiber_reactor()->name(), "kqueue");
#else
        EXPECT_EQ(fiber_reactor()->name(), linux_backend_expected());
#endif
    });
}

#if !defined(WEFT_TEST_PORTABLE_EMULATION) && defined(__linux__)
// runtime_options::reactor picks the backend of that runtime's workers, over
// the environment.
TEST(Poller, RuntimeOptionPicksTheBackend) {
    for (weft::reactor_backend b : {weft::reactor_backend::epoll, weft::reactor_backend::io_uring}) {
        weft::runtime_options o;
        o.workers = 2;
        o.reactor = b;
        weft::runtime rt(o);
        std::string name;
        rt.run([&] { name = fiber_reactor()->name(); });
        if (b == weft::reactor_backend::epoll) EXPECT_EQ(name, "epoll");
        else EXPECT_EQ(name, uring_allowed() ? "io_uring" : "epoll");
    }
}
#endif

#if !defined(WEFT_TEST_PORTABLE_EMULATION) && defined(__linux__) && defined(WEFT_TEST_HAVE_URING)
// io_uring asked for where a seccomp filter refuses it (EPERM, as Docker's
// default profile does): one line on stderr, then epoll, for every worker.
TEST(Poller, UringRefusedFallsBackToEpollWithOneLine) {
    int err_pipe[2];
    ASSERT_EQ(::pipe(err_pipe), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::dup2(err_pipe[1], 2);
        sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
            ::_exit(3);
        weft::runtime_options o;
        o.workers = 3;
        o.reactor = weft::reactor_backend::io_uring;
        int epoll_workers = 0;
        {
            weft::runtime rt(o);
            rt.run([&] {
                weft::task_group g;
                std::atomic<int> n{0};
                for (int w = 0; w < 3; ++w)
                    g.spawn([&] { n += std::string(fiber_reactor()->name()) == "epoll"; }, {.worker = w});
                g.wait();
                epoll_workers = n.load();
            });
        }
        ::_exit(epoll_workers == 3 ? 0 : 4);
    }
    ::close(err_pipe[1]);
    std::string err;
    char buf[256];
    for (ssize_t n; (n = ::read(err_pipe[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<std::size_t>(n));
    ::close(err_pipe[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << err;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "3: no seccomp here, 4: a worker did not take epoll; stderr: " << err;
    std::size_t lines = 0;
    for (char c : err) lines += c == '\n';
    EXPECT_EQ(lines, 1u) << err;
    EXPECT_NE(err.find("io_uring unavailable"), std::string::npos) << err;
}
#endif

// The dump names what each parked fiber waits for, from the wait itself.
TEST(WaitReason, DumpShowsTypedReasons) {
    std::string text;
    weft::run([&] {
        weft::mutex m;
        weft::channel<int> ch(0);
        weft::event ev;
        weft::net::tcp_listener l = weft::net::tcp_listener::bind(weft::net::address::loopback_v4(0));
        std::unique_lock<weft::mutex> held(m);
        auto locker = weft::spawn([&] { std::lock_guard<weft::mutex> g(m); }, {.name = "locker"});
        auto receiver = weft::spawn([&] { ch.recv(); }, {.name = "receiver"});
        auto waiter = weft::spawn([&] { ev.wait(); }, {.name = "eventer"});
        auto acceptor = weft::spawn([&] {
            std::error_code ec;
            (void)l.accept(ec, 20s);
        }, {.name = "acceptor"});
        auto joiner = weft::spawn([&] { waiter.join(); }, {.name = "joiner"});
        weft::this_fiber::sleep_for(5ms);
        std::ostringstream os;
        weft::dump(os);
        text = os.str();
        held.unlock();
        ch.send(1);
        ev.set();
        l.close();
        locker.join();
        receiver.join();
        joiner.join();
        acceptor.join();
    });
    EXPECT_NE(text.find("'locker' blocked on mutex"), std::string::npos) << text;
    EXPECT_NE(text.find("'receiver' blocked on channel_recv"), std::string::npos) << text;
    EXPECT_NE(text.find("'eventer' blocked on event"), std::string::npos) << text;
    EXPECT_NE(text.find("'acceptor' blocked on fd_read fd "), std::string::npos) << text;
    EXPECT_NE(text.find("'joiner' blocked on join"), std::string::npos) << text;
}

}  // namespace
