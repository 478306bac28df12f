// read_pooled and weft::net::pooled_buffer: reads that take a buffer of the
// thread's pool only once data has arrived. The same rules as read (EOF,
// errors, deadlines, cancel, close), leases moved to and destroyed on other
// workers and plain threads, shared sockets, and many idle connections that
// hold no buffer. The `epoll` preset runs them with WEFT_REACTOR=epoll (the
// readiness path); the default run uses io_uring where the kernel allows it
// (receives into provided buffers, and the readiness path when those run out).
#include <gtest/gtest.h>

#include <sys/ioctl.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net_test_support.hpp"

namespace {

using namespace weft_net_test;
using namespace std::chrono_literals;
using weft::net::pooled_buffer;
using weft::net::tcp_listener;
using weft::net::tcp_stream;

// Waits (bounded) until the kernel holds at least n unread bytes on s, so a
// read that must not wait finds them.
void await_pending(tcp_stream& s, int n) {
    for (int i = 0; i < 2000; ++i) {
        int pending = 0;
        if (::ioctl(s.native_handle(), FIONREAD, &pending) == 0 && pending >= n) return;
        std::error_code ec;
        weft::this_fiber::sleep_for(1ms, ec);
    }
    ADD_FAILURE() << "the data never arrived";
}

// Buffers that may sit in the caches of the threads alive now, with some slack.
constexpr std::size_t kCacheSlack = 8 * pooled_buffer::cache_limit;
// With connections idle: each worker's cache and what it lends its io_uring
// provided-buffer ring (at most 256, uring_reactor::provided_max; a burst of
// receives completing together grows it), and the main thread's cache.
constexpr std::size_t idle_bound(std::size_t workers) {
    return workers * (256 + pooled_buffer::cache_limit) + pooled_buffer::cache_limit;
}

TEST(Pooled, EmptyLeaseHoldsNoBuffer) {
    pooled_buffer b;
    EXPECT_FALSE(b);
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.size(), 0u);
    EXPECT_EQ(b.data(), nullptr);
    pooled_buffer t = pooled_buffer::take();
    ASSERT_TRUE(t);
    EXPECT_EQ(t.size(), 0u);
    t.data()[0] = std::byte{7};
    t.data()[pooled_buffer::capacity - 1] = std::byte{9};
    t.set_size(pooled_buffer::capacity);
    pooled_buffer moved = std::move(t);
    EXPECT_FALSE(t);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    EXPECT_EQ(moved.size(), pooled_buffer::capacity);
    EXPECT_EQ(moved.span().size(), pooled_buffer::capacity);
    moved.reset();
    EXPECT_FALSE(moved);
}

TEST(Pooled, ReadsWhatArrivedAndBulkInChunks) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        p.client.write_all("hello", 5);
        std::error_code ec;
        pooled_buffer b = p.server.read_pooled(ec, 10s);
        ASSERT_FALSE(ec) << ec.message();
        ASSERT_TRUE(b);
        EXPECT_EQ(b.view(), "hello");

        // More than one buffer's worth: several leases, none above capacity.
        const auto want = pattern(3 * pooled_buffer::capacity + 123, 42);
        scoped_fiber writer([&] {
            p.client.write_all(want.data(), want.size());
            p.client.shutdown_write();
        });
        std::vector<unsigned char> got;
        for (int i = 0; i < 100000; ++i) {
            pooled_buffer c = p.server.read_pooled(ec, 10s);
            ASSERT_FALSE(ec) << ec.message();
            if (c.empty()) break;
            ASSERT_LE(c.size(), pooled_buffer::capacity);
            got.insert(got.end(), reinterpret_cast<const unsigned char*>(c.data()),
                       reinterpret_cast<const unsigned char*>(c.data()) + c.size());
        }
        writer.join();
        ASSERT_EQ(got.size(), want.size());
        EXPECT_EQ(first_mismatch(got, want), want.size());
    });
}

TEST(Pooled, EmptyLeaseAtEndOfStream) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        p.client.write_all("x", 1);
        p.client.shutdown_write();
        std::error_code ec;
        pooled_buffer b = p.server.read_pooled(ec, 10s);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(b.view(), "x");
        b = p.server.read_pooled(ec, 10s);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_FALSE(b);
        EXPECT_TRUE(b.empty());
        b = p.server.read_pooled(10s);  // again, throwing form: still EOF, no exception
        EXPECT_TRUE(b.empty());
    });
}

TEST(Pooled, PeerResetIsAnError) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        const linger lg{1, 0};  // close sends RST
        ASSERT_EQ(::setsockopt(p.client.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        p.client.close();
        std::error_code ec;
        pooled_buffer b = p.server.read_pooled(ec, 10s);
        EXPECT_EQ(ec, std::errc::connection_reset) << ec.message();
        EXPECT_FALSE(b);
        // The kernel reports the reset once; after it the stream reads as ended.
        std::error_code after;
        EXPECT_TRUE(p.server.read_pooled(after, 10s).empty());
    });
}

TEST(Pooled, DeadlineWithNothingPendingTimesOut) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        bool done = false;
        scoped_fiber dog = watchdog(p.client, done, 5s);
        std::error_code ec;
        pooled_buffer b = p.server.read_pooled(ec, 20ms);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_FALSE(b);
        b = p.server.read_pooled(ec, steady::now() - 1s);  // passed already: fails at once
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_FALSE(b);
        EXPECT_EQ(thrown_code([&] { (void)p.server.read_pooled(1ms); }), std::errc::timed_out);
        done = true;
        // The stream goes on.
        p.client.write_all("ok", 2);
        b = p.server.read_pooled(ec, 10s);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(b.view(), "ok");
    });
}

TEST(Pooled, DataPendingIsReadPastTheDeadlineAndAfterCancel) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        p.client.write_all("abc", 3);
        await_pending(p.server, 3);
        std::error_code ec;
        pooled_buffer b = p.server.read_pooled(ec, steady::now() - 1s);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(b.view(), "abc");

        // A canceled fiber still gets what is there, and fails only at the wait.
        p.client.write_all("def", 3);
        await_pending(p.server, 3);
        std::string got;
        std::error_code second;
        auto h = weft::spawn([&] {
            weft::this_fiber::yield();  // the cancel comes first
            std::error_code e;
            pooled_buffer c = p.server.read_pooled(e);
            if (!e) got = std::string(c.view());
            c = p.server.read_pooled(second);
        });
        h.cancel();
        h.join();
        EXPECT_EQ(got, "def");
        EXPECT_EQ(second, std::errc::operation_canceled) << second.message();
    });
}

TEST(Pooled, CancelWhileBlocked) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        bool returned = false;
        std::size_t held = 0;
        auto h = weft::spawn([&] {
            pooled_buffer b = p.server.read_pooled(ec);
            held = b.size();
            returned = true;
        });
        for (int i = 0; i < 10; ++i) weft::this_fiber::yield();  // it parks
        EXPECT_FALSE(returned);
        h.cancel();
        h.join();
        EXPECT_EQ(ec, std::errc::operation_canceled) << ec.message();
        EXPECT_EQ(held, 0u);
        // Nothing was lost: what comes next is read whole.
        p.client.write_all("after", 5);
        pooled_buffer b = p.server.read_pooled(ec, 10s);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(b.view(), "after");
    });
}

TEST(Pooled, ClosedStreamIsBadFileDescriptor) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        std::error_code ec;
        tcp_stream never;
        EXPECT_FALSE(never.read_pooled(ec));
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        EXPECT_EQ(thrown_code([&] { (void)never.read_pooled(); }), std::errc::bad_file_descriptor);

        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        // Closed by another fiber while this one waits.
        std::error_code blocked;
        auto h = weft::spawn([&] { (void)p.server.read_pooled(blocked); });
        for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
        p.server.close();
        h.join();
        EXPECT_EQ(blocked, std::errc::bad_file_descriptor) << blocked.message();
        EXPECT_FALSE(p.server.read_pooled(ec));
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
    });
}

TEST(Pooled, UnixStreamReadsPooledToo) {
    const std::string path = "/tmp/weft-pooled-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    weft::run([&] {
        weft::deadline_scope guard{kGuard};
        weft::net::unix_listener l = weft::net::unix_listener::bind(path);
        weft::net::unix_stream b;
        scoped_fiber acceptor([&] { b = l.accept(10s); });
        weft::net::unix_stream a = weft::net::unix_stream::connect(path, 10s);
        acceptor.join();
        a.write_all("unix", 4);
        a.shutdown_write();
        std::error_code ec;
        pooled_buffer got = b.read_pooled(ec, 10s);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(got.view(), "unix");
        EXPECT_TRUE(b.read_pooled(ec, 10s).empty());
        EXPECT_FALSE(ec) << ec.message();
    });
    ::unlink(path.c_str());
}

// Leases read on worker 0 end on worker 1, and on a plain thread after the
// runtime is gone; the pool stays bounded through it all.
// The body of the next test: leases read on worker 0; half end on worker 1,
// half are kept for a plain thread.
void read_leases_on_worker_0(int leases_per_side, std::vector<pooled_buffer>& kept, std::atomic<int>& checked) {
    weft::deadline_scope guard{kGuard};
    EXPECT_EQ(weft::worker_index(), 0);
    tcp_listener l = listen_v4();
    conn_pair p = connect_pair(l);
    std::vector<pooled_buffer> leases;
    for (int i = 0; i < 2 * leases_per_side; ++i) {
        const std::string msg = "lease-" + std::to_string(i);
        p.client.write_all(msg.data(), msg.size());
        std::string got;
        pooled_buffer b;
        // One write may arrive in pieces; keep the last piece's lease.
        while (got.size() < msg.size()) {
            b = p.server.read_pooled();
            ASSERT_FALSE(b.empty());
            got += b.view();
        }
        ASSERT_EQ(got, msg);
        leases.push_back(std::move(b));
    }
    // Half go to worker 1 and end there.
    std::vector<pooled_buffer> there(std::make_move_iterator(leases.begin()),
                                     std::make_move_iterator(leases.begin() + leases_per_side));
    weft::spawn_on(1, [&, mine = std::move(there)]() mutable {
        EXPECT_EQ(weft::worker_index(), 1);
        for (auto& b : mine) {
            if (!b.empty()) checked.fetch_add(1);
            b.reset();
        }
        mine.clear();
    }).join();
    for (auto it = leases.begin() + leases_per_side; it != leases.end(); ++it) kept.push_back(std::move(*it));
}

TEST(Pooled, LeasesDestroyedOnAnotherWorkerAndAPlainThread) {
    constexpr int kLeases = 60;
    std::vector<pooled_buffer> kept;
    std::atomic<int> checked{0};
    {
        weft::runtime rt{{.workers = 2}};
        // Read on worker 0, pinned there.
        rt.run([&] { weft::spawn_on(0, [&] { read_leases_on_worker_0(kLeases, kept, checked); }).join(); });
    }
    EXPECT_EQ(checked.load(), kLeases);
    ASSERT_EQ(kept.size(), static_cast<std::size_t>(kLeases));
    std::thread([&] {
        for (auto& b : kept) {
            EXPECT_EQ(b.view().substr(0, 6), "lease-");
            b = pooled_buffer{};
        }
    }).join();
    // The workers and the plain thread are gone, and their caches with them.
    EXPECT_LE(pooled_buffer::allocated(), kCacheSlack);
}

// Several fibers, on one worker and on two, read one socket with read_pooled:
// every byte is delivered once (a histogram and a sum of the values), and
// every reader sees the end.
void readers_share_one_socket(int readers) {
    weft::deadline_scope guard{kGuard};
    tcp_listener l = listen_v4();
    conn_pair p = connect_pair(l);
    constexpr int total = 200'000;
    std::mutex m;
    std::map<int, long> seen;
    std::atomic<int> eofs{0};
    std::atomic<long> bytes{0};
    std::vector<weft::fiber_handle> hs;
    for (int r = 0; r < readers; ++r) {
        hs.push_back(weft::spawn([&] {
            std::map<int, long> mine;
            for (int i = 0; i <= total; ++i) {
                std::error_code ec;
                pooled_buffer b = p.server.read_pooled(ec);
                if (ec) {
                    ADD_FAILURE() << ec.message();
                    return;
                }
                if (b.empty()) {
                    ++eofs;
                    break;
                }
                for (std::byte x : b.span()) ++mine[static_cast<int>(x)];
                bytes += static_cast<long>(b.size());
            }
            std::lock_guard<std::mutex> lock(m);
            for (auto [v, n] : mine) seen[v] += n;
        }, {.worker = weft::any_worker}));
    }
    for (int i = 0; i < total;) {
        unsigned char chunk[1000];
        const int n = std::min(static_cast<int>(1 + (i * 7) % 1000), total - i);
        for (int k = 0; k < n; ++k) chunk[k] = static_cast<unsigned char>((i + k) % 251);
        p.client.write_all(chunk, static_cast<std::size_t>(n));
        i += n;
        if (i % 7 == 0) weft::this_fiber::yield();
    }
    p.client.shutdown_write();
    for (auto& h : hs) h.join();
    std::map<int, long> want;
    for (int i = 0; i < total; ++i) ++want[i % 251];
    EXPECT_EQ(bytes.load(), total);
    EXPECT_EQ(seen, want) << "a byte was lost or read twice";
    EXPECT_EQ(eofs.load(), readers);
}

TEST(Pooled, SeveralReadersOfOneSocket) {
    weft::run([] { readers_share_one_socket(4); });
}

TEST(Pooled, SeveralReadersOfOneSocketOnTwoWorkers) {
    weft::runtime rt{{.workers = 2}};
    rt.run([] { readers_share_one_socket(4); });
}

// 1000 connections served by read_pooled echo fibers: exact byte counts, and
// while they all wait idle between two messages the pool holds no buffer
// per connection.
void many_connections(std::atomic<std::size_t>& idle_allocated) {
    weft::deadline_scope guard{kGuard};
    constexpr int kConns = 1000;
    // A backlog above kConns: every connect finds room in the accept queue
    // (an overflow only delays connections, by a SYN-ACK retry, but that is
    // the kernel's business, not read_pooled's).
    tcp_listener l = tcp_listener::bind(address::loopback_v4(0), weft::net::listen_options{.backlog = 4096});
    std::atomic<long> echoed{0};
    std::vector<weft::fiber_handle> servers;
    weft::fiber_handle acceptor = weft::spawn([&] {
        for (int i = 0; i < kConns; ++i) {
            std::error_code ec;
            tcp_stream s = l.accept(ec, 10s);
            if (ec) {
                ADD_FAILURE() << "accept: " << ec.message();
                return;
            }
            servers.push_back(weft::spawn([&, s = std::move(s)]() mutable {
                for (int k = 0; k < 100000; ++k) {
                    std::error_code e;
                    pooled_buffer b = s.read_pooled(e);
                    if (e) ADD_FAILURE() << "server read_pooled: " << e.message();
                    if (e || b.empty()) return;
                    s.write_all(b.data(), b.size(), e);
                    if (e) {
                        ADD_FAILURE() << "server write_all: " << e.message();
                        return;
                    }
                    echoed += static_cast<long>(b.size());
                }
            }));
        }
    });
    weft::wait_group first_done, may_go_on;
    first_done.add(kConns);
    may_go_on.add(1);
    std::atomic<long> client_bytes{0};
    std::atomic<int> failures{0};
    std::vector<weft::fiber_handle> clients;
    for (int i = 0; i < kConns; ++i) {
        clients.push_back(weft::spawn([&, i] {
            std::error_code ec;
            tcp_stream c = tcp_stream::connect(l.local_address(), ec, 10s);
            if (ec) {
                ++failures;
                first_done.done();
                return;
            }
            auto round = [&](std::size_t size, std::uint32_t seed) {
                const auto out = pattern(size, seed);
                std::vector<unsigned char> back(size);
                c.write_all(out.data(), out.size(), ec);
                std::size_t got = 0;
                if (!ec) got = c.read_exact(back.data(), back.size(), ec, 10s);
                if (ec || back != out) {
                    ADD_FAILURE() << "connection " << i << ": " << size << " bytes sent, " << got << " echoed, "
                                  << (ec ? ec.message() : "first wrong byte at " + std::to_string(first_mismatch(back, out)));
                    return false;
                }
                client_bytes += static_cast<long>(size);
                return true;
            };
            const bool ok = round(1 + static_cast<std::size_t>(i % 97), static_cast<std::uint32_t>(i));
            first_done.done();
            may_go_on.wait();
            if (!ok || !round(1 + static_cast<std::size_t>((i * 31) % 3000), static_cast<std::uint32_t>(i + kConns))) {
                ++failures;
                return;
            }
            c.shutdown_write();
            char end;
            if (c.read(&end, 1, ec, 10s) != 0 || ec) ++failures;
        }));
    }
    first_done.wait();
    // Every server fiber is parked in read_pooled now (its echo went out).
    idle_allocated = pooled_buffer::allocated();
    may_go_on.done();
    for (auto& h : clients) h.join();
    acceptor.join();
    for (auto& h : servers) h.join();
    long want = 0;
    for (int i = 0; i < kConns; ++i) want += 1 + i % 97 + 1 + (i * 31) % 3000;
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(client_bytes.load(), want);
    EXPECT_EQ(echoed.load(), want);
}

TEST(Pooled, ManyConnectionsWithExactByteCounts) {
    std::atomic<std::size_t> idle{0};
    weft::run([&] { many_connections(idle); });
    EXPECT_LE(idle.load(), idle_bound(1)) << "idle connections hold buffers";
}

TEST(Pooled, ManyConnectionsOnTwoWorkers) {
    std::atomic<std::size_t> idle{0};
    {
        weft::runtime rt{{.workers = 2}};
        rt.run([&] { many_connections(idle); });
    }
    EXPECT_LE(idle.load(), idle_bound(2)) << "idle connections hold buffers";
}

}  // namespace
