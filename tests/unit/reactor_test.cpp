// Reactor backends: one suite, run on every backend this build can host. On
// Linux that is epoll, io_uring (where built with liburing) and kqueue, the latter against the kqueue emulation in
// tests/support/kqueue_emu (see its sys/event.h for what that can and cannot
// show); on the BSDs and macOS, the real kqueue. Each wait is bounded by a generous hang guard; no test asserts how
// fast anything happens.
#include "reactor/kqueue_reactor.hpp"
#if defined(__linux__)
#include "reactor/epoll_reactor.hpp"
#endif
#if defined(WEFT_TEST_HAVE_URING)
#include "reactor/uring_reactor.hpp"
#endif

#include <gtest/gtest.h>

#include <fcntl.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#endif
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <ostream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace weft::detail;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr std::int64_t ms = 1'000'000;
constexpr auto hang_guard = 20s;  // ends a wait that never ends; not a timing assertion

struct backend {
    const char* name;
    std::unique_ptr<reactor> (*make)();
};
void PrintTo(const backend& b, std::ostream* os) { *os << b.name; }

// Everything one fd was reported with across a run of polls.
struct seen {
    bool readable = false, writable = false, error = false;
    std::vector<std::uint32_t> generations;
};
using seen_map = std::map<int, seen>;

void set_nonblocking(int fd) {
    const int fl = ::fcntl(fd, F_GETFL);
    ASSERT_GE(fl, 0);
    ASSERT_EQ(::fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

void write_byte(int fd, char c = 'x') { ASSERT_EQ(::write(fd, &c, 1), 1) << "errno " << errno; }

// Reads until EAGAIN; returns the bytes read, or -1 at end of file.
long drain_fd(int fd) {
    char buf[4096];
    long total = 0;
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            total += n;
        } else if (n == 0) {
            return -1;
        } else {
            EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << "errno " << errno;
            return total;
        }
    }
}

class ReactorTest : public ::testing::TestWithParam<backend> {
protected:
    void SetUp() override { r_ = GetParam().make(); }
    void TearDown() override {
        r_.reset();
        for (int fd : fds_) ::close(fd);
    }

    std::pair<int, int> socket_pair() {
        int sv[2] = {-1, -1};
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0) << "errno " << errno;
        for (int fd : sv) track(fd);
        return {sv[0], sv[1]};
    }
    std::pair<int, int> pipe_pair() {
        int p[2] = {-1, -1};
        EXPECT_EQ(::pipe(p), 0) << "errno " << errno;
        for (int fd : p) track(fd);
        return {p[0], p[1]};
    }
    void track(int fd) {
        set_nonblocking(fd);
        fds_.insert(fd);
    }
    void close_fd(int fd) {
        fds_.erase(fd);
        ::close(fd);
    }

    std::size_t poll_into(seen_map& m, std::int64_t timeout_ns, std::size_t max = 64) {
        std::vector<io_event> evs(max);
        const std::size_t n = r_->poll(timeout_ns, evs.data(), max);
        EXPECT_LE(n, max);
        for (std::size_t i = 0; i < n && i < max; ++i) {
            seen& s = m[evs[i].token.fd];
            s.readable |= evs[i].readable;
            s.writable |= evs[i].writable;
            s.error |= evs[i].error;
            s.generations.push_back(evs[i].token.generation);
        }
        return n;
    }
    // Polls until pred holds (or the hang guard ends it; the caller asserts pred).
    seen_map poll_until(const std::function<bool(const seen_map&)>& pred, std::size_t max = 64) {
        seen_map m;
        const auto give_up = clock_type::now() + hang_guard;
        while (!pred(m) && clock_type::now() < give_up) poll_into(m, 100 * ms, max);
        return m;
    }
    // Consumes whatever is pending (e.g. the initial writable edge).
    void drain_events() {
        seen_map m;
        for (int i = 0; i < 1000 && poll_into(m, 0) > 0; ++i) {
        }
    }
    // Registers the rescue socket poll_forever_guarded() needs; call it before
    // anything that must still be pending when the poll starts (it drains).
    void arm_rescue() {
        auto [rescue, peer] = socket_pair();
        ASSERT_FALSE(r_->add(io_token{rescue, 0xdeadu}));
        rescue_peer_ = peer;
        drain_events();
    }
    // poll(-1) with a hang guard: `during` runs on a helper thread; if the poll
    // has not returned after hang_guard, the helper writes to the rescue
    // socket, so a lost wake-up fails the test (1 event, not 0) instead of
    // hanging it.
    std::size_t poll_forever_guarded(io_event* out, std::size_t max, const std::function<void()>& during) {
        EXPECT_GE(rescue_peer_, 0) << "arm_rescue() first";
        std::atomic<bool> returned{false};
        std::thread helper([&] {
            if (during) during();
            const auto give_up = clock_type::now() + hang_guard;
            while (!returned.load() && clock_type::now() < give_up) std::this_thread::sleep_for(10ms);
            if (!returned.load()) write_byte(rescue_peer_);
        });
        const std::size_t n = r_->poll(-1, out, max);
        returned.store(true);
        helper.join();
        return n;
    }

    std::unique_ptr<reactor> r_;
    std::set<int> fds_;
    int rescue_peer_ = -1;
};

auto readable_on(int fd) {
    return [fd](const seen_map& m) { return m.count(fd) && m.at(fd).readable; };
}
auto writable_on(int fd) {
    return [fd](const seen_map& m) { return m.count(fd) && m.at(fd).writable; };
}
void expect_generations(const seen_map& m, int fd, std::uint32_t gen) {
    ASSERT_TRUE(m.count(fd));
    for (std::uint32_t g : m.at(fd).generations) EXPECT_EQ(g, gen) << "fd " << fd;
}

TEST_P(ReactorTest, NameMatchesBackend) { EXPECT_STREQ(r_->name(), GetParam().name); }

TEST_P(ReactorTest, ReadableAfterWriteCarriesToken) {
    auto [a, b] = socket_pair();
    const std::uint32_t gen = 0x80000007u;  // high bit set: the packed token must survive whole
    ASSERT_FALSE(r_->add(io_token{a, gen}));
    drain_events();
    write_byte(b);
    const seen_map m = poll_until(readable_on(a));
    ASSERT_TRUE(readable_on(a)(m));
    expect_generations(m, a, gen);
    EXPECT_EQ(m.count(b), 0u) << "b was never registered";
}

TEST_P(ReactorTest, WritableEventOnRegistration) {
    auto [a, b] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a, 3}));
    const seen_map m = poll_until(writable_on(a));
    ASSERT_TRUE(writable_on(a)(m));
    expect_generations(m, a, 3);
    (void)b;
}

TEST_P(ReactorTest, WritableAgainAfterSendBufferDrains) {
    auto [a, b] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a, 5}));
    char chunk[4096] = {};
    long sent = 0;
    for (;;) {
        const ssize_t n = ::write(a, chunk, sizeof chunk);
        if (n < 0) {
            ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << "errno " << errno;
            break;
        }
        sent += n;
    }
    ASSERT_GT(sent, 0);
    drain_events();
    EXPECT_EQ(drain_fd(b), sent);
    const seen_map m = poll_until(writable_on(a));
    ASSERT_TRUE(writable_on(a)(m));
    expect_generations(m, a, 5);
}

TEST_P(ReactorTest, NoEventAfterDrainingThenNewDataGivesNewEvent) {
    auto [a, b] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a, 1}));
    drain_events();
    write_byte(b);
    ASSERT_TRUE(readable_on(a)(poll_until(readable_on(a))));
    EXPECT_EQ(drain_fd(a), 1);
    // Edge-triggered: nothing changed since the event was delivered.
    io_event evs[16];
    EXPECT_EQ(r_->poll(0, evs, 16), 0u);
    EXPECT_EQ(r_->poll(0, evs, 16), 0u);
    // New data is a new edge.
    write_byte(b, 'y');
    const seen_map m = poll_until(readable_on(a));
    ASSERT_TRUE(readable_on(a)(m));
    expect_generations(m, a, 1);
    EXPECT_EQ(drain_fd(a), 1);
}

TEST_P(ReactorTest, WakeFromAnotherThreadEndsPoll) {
    arm_rescue();
    std::atomic<bool> woke{false};
    io_event evs[8];
    const std::size_t n = poll_forever_guarded(evs, 8, [&] {
        std::this_thread::sleep_for(20ms);  // let the poll start first (not required)
        woke.store(true);
        r_->wake();
    });
    EXPECT_TRUE(woke.load()) << "poll returned before wake()";
    EXPECT_EQ(n, 0u) << "the wake-up must not surface as an io_event";
}

TEST_P(ReactorTest, WakeBeforePollIsKeptAndCoalesced) {
    arm_rescue();
    r_->wake();
    r_->wake();
    r_->wake();
    io_event evs[8];
    EXPECT_EQ(poll_forever_guarded(evs, 8, nullptr), 0u);
    EXPECT_EQ(r_->poll(0, evs, 8), 0u) << "three wakes before one poll end one poll";
}

TEST_P(ReactorTest, PeerCloseGivesReadableEof) {
    auto [a, b] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a, 9}));
    drain_events();
    close_fd(b);
    // Readable so the reader retries and sees 0; error (or writable) so a
    // writer parked on a full buffer retries too and sees EPIPE.
    const seen_map m = poll_until([a = a](const seen_map& s) {
        return s.count(a) && s.at(a).readable && (s.at(a).error || s.at(a).writable);
    });
    ASSERT_TRUE(readable_on(a)(m));
    EXPECT_TRUE(m.at(a).error || m.at(a).writable);
    expect_generations(m, a, 9);
    EXPECT_EQ(drain_fd(a), -1);
}

TEST_P(ReactorTest, PipeDataAndEof) {
    auto [rd, wr] = pipe_pair();
    ASSERT_FALSE(r_->add(io_token{rd, 11}));
    ASSERT_FALSE(r_->add(io_token{wr, 12}));
    ASSERT_TRUE(writable_on(wr)(poll_until(writable_on(wr))));
    drain_events();
    write_byte(wr);
    seen_map m = poll_until(readable_on(rd));
    ASSERT_TRUE(readable_on(rd)(m));
    expect_generations(m, rd, 11);
    EXPECT_EQ(drain_fd(rd), 1);
    r_->remove(wr);
    close_fd(wr);
    // The reader must be woken: epoll reports a pipe hang-up as EPOLLHUP alone
    // (error), kqueue as EVFILT_READ with EV_EOF (readable).
    const auto reader_woken = [rd = rd](const seen_map& s) {
        return s.count(rd) && (s.at(rd).readable || s.at(rd).error);
    };
    m = poll_until(reader_woken);
    ASSERT_TRUE(reader_woken(m));
    expect_generations(m, rd, 11);
    EXPECT_EQ(drain_fd(rd), -1);
}

TEST_P(ReactorTest, RemoveStopsEvents) {
    auto [a, b] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a, 2}));
    drain_events();
    r_->remove(a);
    write_byte(b);
    seen_map m;
    poll_into(m, 50 * ms);
    poll_into(m, 0);
    EXPECT_EQ(m.count(a), 0u);
    r_->remove(a);  // removing twice is harmless
}

TEST_P(ReactorTest, RemoveDropsEventsNotYetCollected) {
    auto [a, b] = socket_pair();
    auto [c, d] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a, 1}));
    ASSERT_FALSE(r_->add(io_token{c, 2}));
    drain_events();
    write_byte(b);
    write_byte(d);
    // Collect one event only; whatever else is ready for a stays queued.
    seen_map first;
    const auto give_up = clock_type::now() + hang_guard;
    while (first.empty() && clock_type::now() < give_up) poll_into(first, 100 * ms, /*max=*/1);
    ASSERT_EQ(first.size(), 1u);
    const int got = first.begin()->first;
    const int other = got == a ? c : a;
    r_->remove(got);
    r_->remove(other);
    seen_map rest;
    for (int i = 0; i < 100 && poll_into(rest, 0, 1) > 0; ++i) {
    }
    EXPECT_TRUE(rest.empty()) << "an event was delivered after remove()";
}

TEST_P(ReactorTest, ReAddUpdatesGeneration) {
    auto [a, b] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a, 1}));
    ASSERT_FALSE(r_->add(io_token{a, 2}));
    drain_events();
    write_byte(b);
    const seen_map m = poll_until(readable_on(a));
    ASSERT_TRUE(readable_on(a)(m));
    expect_generations(m, a, 2);
}

TEST_P(ReactorTest, AddBadFdFails) {
    auto [a, b] = socket_pair();
    close_fd(b);
    EXPECT_TRUE(r_->add(io_token{b, 1}));  // closed: nothing else opened it since
    EXPECT_TRUE(r_->add(io_token{-1, 1}));
    (void)a;
}

// A regular file is always ready: epoll refuses it (EPERM), and io_uring,
// which would report it ready forever, says the same at add().
TEST_P(ReactorTest, AddRegularFileIsNotPermitted) {
    if (std::string(GetParam().name) == "kqueue") GTEST_SKIP() << "kqueue takes regular files";
    char path[] = "/tmp/weft-reactor-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::unlink(path);
    track(fd);
    EXPECT_EQ(r_->add(io_token{fd, 1}), std::errc::operation_not_permitted);
}

// /dev/null cannot be polled (it is always "ready"): refused like a regular
// file, not reported ready at every poll.
TEST_P(ReactorTest, AddDevNullIsNotPermitted) {
    if (std::string(GetParam().name) == "kqueue") GTEST_SKIP() << "the kqueue emulation takes it";
    const int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    track(fd);
    EXPECT_EQ(r_->add(io_token{fd, 1}), std::errc::operation_not_permitted);
}

#if defined(__linux__)
// An eventfd can be polled (the hooks register such fds): taken, and its edge reported.
TEST_P(ReactorTest, EventfdIsTakenAndReported) {
    if (std::string(GetParam().name) == "kqueue") GTEST_SKIP() << "Linux only";
    const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ASSERT_GE(fd, 0);
    track(fd);
    ASSERT_FALSE(r_->add(io_token{fd, 8}));
    drain_events();
    const std::uint64_t one = 1;
    ASSERT_EQ(::write(fd, &one, sizeof one), 8);
    const seen_map m = poll_until(readable_on(fd));
    ASSERT_TRUE(readable_on(fd)(m));
    expect_generations(m, fd, 8);
}
#endif

TEST_P(ReactorTest, TimeoutZeroReturnsAtOnceWithNothing) {
    io_event evs[8];
    EXPECT_EQ(r_->poll(0, evs, 8), 0u);
    auto [a, b] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a, 1}));
    drain_events();
    EXPECT_EQ(r_->poll(0, evs, 8), 0u);
    EXPECT_EQ(r_->poll(10 * ms, evs, 8), 0u);  // a short timeout expires with nothing
    (void)b;
}

TEST_P(ReactorTest, ManyFdsEachGetTheirEvent) {
    constexpr int count = 200;
    std::map<int, std::uint32_t> gen_of;
    std::vector<int> writers;
    for (int i = 0; i < count; ++i) {
        auto [a, b] = socket_pair();
        gen_of[a] = 1000u + static_cast<std::uint32_t>(i);
        ASSERT_FALSE(r_->add(io_token{a, gen_of[a]}));
        writers.push_back(b);
    }
    drain_events();
    for (int b : writers) write_byte(b);
    const seen_map m = poll_until([&](const seen_map& s) {
        for (const auto& [fd, g] : gen_of)
            if (!s.count(fd) || !s.at(fd).readable) return false;
        return true;
    });
    for (const auto& [fd, g] : gen_of) {
        ASSERT_TRUE(readable_on(fd)(m)) << "fd " << fd;
        expect_generations(m, fd, g);
    }
    for (const auto& [fd, s] : m) EXPECT_TRUE(gen_of.count(fd)) << "event for unregistered fd " << fd;
}

TEST_P(ReactorTest, SmallOutputArrayStillDeliversEverything) {
    auto [a1, b1] = socket_pair();
    auto [a2, b2] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a1, 1}));
    ASSERT_FALSE(r_->add(io_token{a2, 2}));
    drain_events();
    write_byte(b1);
    write_byte(b2);
    const seen_map m = poll_until(
        [a1 = a1, a2 = a2](const seen_map& s) { return readable_on(a1)(s) && readable_on(a2)(s); }, /*max=*/1);
    ASSERT_TRUE(readable_on(a1)(m));
    ASSERT_TRUE(readable_on(a2)(m));
    expect_generations(m, a1, 1);
    expect_generations(m, a2, 2);
}

TEST_P(ReactorTest, StaleTokenAfterFdReuse) {
    auto [a, b] = socket_pair();
    const std::uint32_t gen = 41;
    ASSERT_FALSE(r_->add(io_token{a, gen}));
    drain_events();
    write_byte(b);  // an event for the old registration is now pending, unpolled
    r_->remove(a);
    close_fd(a);
    close_fd(b);
    seen_map before;
    poll_into(before, 0);
    EXPECT_EQ(before.count(a), 0u) << "event for a removed fd";

    auto [c, d] = socket_pair();
    ASSERT_NE(d, a);
    if (c != a) {  // give the new socket the old number
        ASSERT_EQ(::dup2(c, a), a);
        close_fd(c);
        track(a);
    }
    ASSERT_FALSE(r_->add(io_token{a, gen + 1}));
    write_byte(d);
    const seen_map m = poll_until(readable_on(a));
    ASSERT_TRUE(readable_on(a)(m));
    expect_generations(m, a, gen + 1);
    EXPECT_EQ(drain_fd(a), 1);
}

// add() from another thread while the owner sleeps in poll(-1): the poll
// reports the fd's state (io_uring: the owner submits registrations itself,
// so add() must wake it).
TEST_P(ReactorTest, AddFromAnotherThreadDuringPollIsReported) {
    arm_rescue();
    auto [a, b] = socket_pair();
    write_byte(b);
    io_event evs[8];
    const std::size_t n = poll_forever_guarded(evs, 8, [&, a = a] {
        std::this_thread::sleep_for(20ms);  // let the poll start first (not required)
        EXPECT_FALSE(r_->add(io_token{a, 77}));
    });
    seen_map m;
    for (std::size_t i = 0; i < n; ++i) m[evs[i].token.fd].readable |= evs[i].readable;
    if (!readable_on(a)(m)) {  // woken, the event may come with the next poll
        const seen_map more = poll_until(readable_on(a));
        ASSERT_TRUE(readable_on(a)(more));
        expect_generations(more, a, 77);
    }
    for (std::size_t i = 0; i < n; ++i) EXPECT_NE(evs[i].token.fd, rescue_peer_);
}

// remove() then close(): the file is gone at once, so the peer sees EOF
// without another poll (io_uring: an armed poll holds its file).
TEST_P(ReactorTest, CloseAfterRemoveReleasesTheFile) {
    auto [a, b] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a, 6}));
    ASSERT_TRUE(writable_on(a)(poll_until(writable_on(a))));  // armed by now
    r_->remove(a);
    close_fd(a);
    set_nonblocking(b);
    char c;
    errno = 0;
    EXPECT_EQ(::read(b, &c, 1), 0) << "errno " << errno;
}

// A hung-up fd is reported, then stays quiet: edge-triggered (io_uring: the
// kernel ending a multishot poll must not turn into an event at every poll).
TEST_P(ReactorTest, HangupIsReportedOnceNotAtEveryPoll) {
    auto [a, b] = socket_pair();
    ASSERT_FALSE(r_->add(io_token{a, 4}));
    drain_events();
    close_fd(b);
    ASSERT_TRUE(readable_on(a)(poll_until(readable_on(a))));
    drain_events();
    io_event evs[8];
    std::size_t later = 0;
    for (int i = 0; i < 20; ++i) later += r_->poll(i == 0 ? 10 * ms : 0, evs, 8);
    EXPECT_EQ(later, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, ReactorTest,
    ::testing::Values(
#if defined(__linux__)
        backend{"epoll", [] { return std::unique_ptr<reactor>(std::make_unique<epoll_reactor>()); }},
#endif
#if defined(WEFT_TEST_HAVE_URING)
        backend{"io_uring", [] { return std::unique_ptr<reactor>(std::make_unique<uring_reactor>()); }},
#endif
        backend{"kqueue", [] { return std::unique_ptr<reactor>(std::make_unique<kqueue_reactor>()); }}),
    [](const ::testing::TestParamInfo<backend>& info) { return std::string(info.param.name); });

}  // namespace
