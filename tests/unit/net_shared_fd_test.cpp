// Several fibers on one fd: acceptors sharing a listener, readers and
// writers sharing a connection, and closes from the same worker, another
// worker and a plain thread, each of which must wake every waiter. No EBUSY,
// no lost bytes. Every wait runs under a deadline_scope guard, so a waiter
// that is never woken fails the test (timed_out) instead of hanging it.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "net_test_support.hpp"

namespace {

using namespace weft_net_test;

constexpr int kAcceptors = 4;
constexpr int kPerAcceptor = 5;

// Each acceptor takes exactly kPerAcceptor connections and leaves, so every
// one of them must have been served for the clients to finish.
void acceptors_share_one_listener(tcp_listener& l, std::atomic<int>& accepted, std::atomic<int>& errors) {
    std::vector<weft::fiber_handle> acceptors;
    for (int i = 0; i < kAcceptors; ++i) {
        acceptors.push_back(weft::spawn([&] {
            weft::deadline_scope g{kGuard};
            for (int k = 0; k < kPerAcceptor; ++k) {
                std::error_code ec;
                tcp_stream c = l.accept(ec);
                if (ec) {
                    ADD_FAILURE() << "accept: " << ec.message();
                    ++errors;
                    return;
                }
                ++accepted;
                c.write_all("k", 1, ec);
            }
        }));
    }
    std::vector<weft::fiber_handle> clients;
    for (int i = 0; i < kAcceptors * kPerAcceptor; ++i) {
        clients.push_back(weft::spawn([&] {
            weft::deadline_scope g{kGuard};
            std::error_code ec;
            tcp_stream c = tcp_stream::connect(l.local_address(), ec);
            if (ec) {
                ADD_FAILURE() << "connect: " << ec.message();
                ++errors;
                return;
            }
            char k = 0;
            c.read_exact(&k, 1, ec);
            EXPECT_FALSE(ec) << ec.message();
            EXPECT_EQ(k, 'k');
        }));
    }
    for (auto& h : clients) h.join();
    for (auto& h : acceptors) h.join();
}

TEST(SharedFd, SeveralAcceptorsOnOneListener) {
    weft::run([] {
        tcp_listener l = listen_v4();
        std::atomic<int> accepted{0}, errors{0};
        acceptors_share_one_listener(l, accepted, errors);
        EXPECT_EQ(accepted.load(), kAcceptors * kPerAcceptor);
        EXPECT_EQ(errors.load(), 0);
    });
}

TEST(SharedFd, SeveralAcceptorsOnOneListenerWithTwoWorkers) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> accepted{0}, errors{0};
    rt.run([&] {
        tcp_listener l = listen_v4();
        acceptors_share_one_listener(l, accepted, errors);
    });
    EXPECT_EQ(accepted.load(), kAcceptors * kPerAcceptor);
    EXPECT_EQ(errors.load(), 0);
}

// Readers take one byte per call; every byte written is read exactly once,
// and every reader sees the end of the stream.
void readers_share_one_connection(int readers) {
    tcp_listener l = listen_v4();
    conn_pair p = connect_pair(l);
    constexpr int total = 6000;
    std::vector<std::map<int, int>> got(static_cast<std::size_t>(readers));
    std::atomic<int> eofs{0};
    std::vector<weft::fiber_handle> hs;
    for (int r = 0; r < readers; ++r) {
        hs.push_back(weft::spawn([&, r] {
            weft::deadline_scope g{kGuard};
            for (int i = 0; i <= total; ++i) {
                unsigned char b;
                std::error_code ec;
                const std::size_t n = p.server.read(&b, 1, ec);
                if (ec) {
                    ADD_FAILURE() << "reader " << r << ": " << ec.message();
                    return;
                }
                if (n == 0) {
                    ++eofs;
                    return;
                }
                ++got[static_cast<std::size_t>(r)][b];
            }
        }));
    }
    {
        weft::deadline_scope g{kGuard};
        // Small writes with yields between them, so readers park and wake many times.
        for (int i = 0; i < total; i += 100) {
            unsigned char chunk[100];
            for (int k = 0; k < 100; ++k) chunk[k] = static_cast<unsigned char>((i + k) % 251);
            p.client.write_all(chunk, sizeof chunk);
            weft::this_fiber::yield();
        }
        p.client.shutdown_write();
    }
    for (auto& h : hs) h.join();
    std::map<int, int> all;
    for (const auto& m : got)
        for (auto [b, n] : m) all[b] += n;
    std::map<int, int> want;
    for (int i = 0; i < total; ++i) ++want[i % 251];
    EXPECT_EQ(all, want) << "a byte was lost or read twice";
    EXPECT_EQ(eofs.load(), readers);
}

TEST(SharedFd, SeveralReadersOfOneConnection) {
    weft::run([] { readers_share_one_connection(4); });
}

TEST(SharedFd, SeveralReadersOfOneConnectionWithTwoWorkers) {
    weft::runtime rt{{.workers = 2}};
    rt.run([] { readers_share_one_connection(4); });
}

TEST(SharedFd, SeveralWritersOfOneConnection) {
    weft::run([] {
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        p.server.set_send_buffer_size(4096);  // writers fill it and park
        constexpr int writers = 4;
        constexpr std::size_t each = 256 * 1024;
        std::vector<weft::fiber_handle> hs;
        for (int w = 0; w < writers; ++w) {
            hs.push_back(weft::spawn([&, w] {
                weft::deadline_scope g{kGuard};
                std::vector<char> chunk(1000, static_cast<char>('a' + w));
                for (std::size_t sent = 0; sent < each; sent += chunk.size()) {
                    const std::size_t n = std::min(chunk.size(), each - sent);
                    std::error_code ec;
                    p.server.write_all(chunk.data(), n, ec);
                    if (ec) {
                        ADD_FAILURE() << "writer " << w << ": " << ec.message();
                        return;
                    }
                }
            }));
        }
        std::map<char, std::size_t> got;
        {
            weft::deadline_scope g{kGuard};
            weft::this_fiber::sleep_for(5ms);  // let the writers fill the buffer first
            std::size_t total = 0;
            char buf[8192];
            while (total < writers * each) {
                const std::size_t n = p.client.read(buf, sizeof buf);
                ASSERT_GT(n, 0u);
                for (std::size_t i = 0; i < n; ++i) ++got[buf[i]];
                total += n;
            }
        }
        for (auto& h : hs) h.join();
        for (int w = 0; w < writers; ++w) EXPECT_EQ(got[static_cast<char>('a' + w)], each) << "writer " << w;
    });
}

// Readers parked on one connection; `close_it` closes it. Every reader must
// end with bad_file_descriptor (or have found it closed already).
template <class Close>
void close_wakes_every_reader(int readers, Close close_it) {
    tcp_listener l = listen_v4();
    conn_pair p = connect_pair(l);
    std::atomic<int> ended{0}, badf{0};
    std::vector<weft::fiber_handle> hs;
    for (int r = 0; r < readers; ++r) {
        hs.push_back(weft::spawn([&] {
            weft::deadline_scope g{kGuard};
            char b;
            std::error_code ec;
            p.server.read(&b, 1, ec);
            if (ec == std::errc::bad_file_descriptor) ++badf;
            else ADD_FAILURE() << "the reader ended with '" << ec.message() << "'";
            ++ended;
        }));
    }
    weft::this_fiber::sleep_for(10ms);  // most likely parked by now; either way they must end
    EXPECT_EQ(ended.load(), 0) << "a reader returned before the close";
    close_it(p.server);
    for (auto& h : hs) h.join();
    EXPECT_EQ(badf.load(), readers);
}

TEST(SharedFd, CloseOnTheSameWorkerWakesEveryWaiter) {
    weft::run([] { close_wakes_every_reader(3, [](tcp_stream& s) { s.close(); }); });
}

TEST(SharedFd, CloseFromAnotherWorkerWakesEveryWaiter) {
    weft::runtime rt{{.workers = 2}};
    rt.run([] {
        weft::spawn_on(0, [] {
            close_wakes_every_reader(3, [](tcp_stream& s) {
                weft::spawn_on(1, [&s] { s.close(); }).join();
            });
        }).join();
    });
}

TEST(SharedFd, CloseFromAPlainThreadWakesEveryWaiter) {
    weft::run([] {
        close_wakes_every_reader(3, [](tcp_stream& s) { std::thread([&s] { s.close(); }).join(); });
    });
}

TEST(SharedFd, CloseOfAListenerFromAPlainThreadWakesEveryAcceptor) {
    weft::runtime rt{{.workers = 2}};
    std::atomic<int> badf{0};
    rt.run([&] {
        tcp_listener l = listen_v4();
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 4; ++i) {
            hs.push_back(weft::spawn([&] {
                weft::deadline_scope g{kGuard};
                std::error_code ec;
                (void)l.accept(ec);
                if (ec == std::errc::bad_file_descriptor) ++badf;
                else ADD_FAILURE() << "the acceptor ended with '" << ec.message() << "'";
            }));
        }
        weft::this_fiber::sleep_for(10ms);
        std::thread([&] { l.close(); }).join();
        for (auto& h : hs) h.join();
    });
    EXPECT_EQ(badf.load(), 4);
}

// A connection accepted on one worker and served on the other: its fd moves
// to the worker of the fiber that waits on it.
TEST(SharedFd, AConnectionMovesToTheWorkerThatWaitsOnIt) {
    weft::runtime rt{{.workers = 2}};
    rt.run([] {
        tcp_listener l = listen_v4();
        conn_pair p;
        weft::spawn_on(0, [&] { p = connect_pair(l); }).join();
        weft::spawn_on(1, [&] {
            weft::deadline_scope g{kGuard};
            for (int i = 0; i < 50; ++i) {
                char b = static_cast<char>(i);
                p.client.write_all(&b, 1);
                char r = 0;
                p.server.read_exact(&r, 1);
                EXPECT_EQ(r, b);
            }
        }).join();
        weft::spawn_on(0, [&] {
            weft::deadline_scope g{kGuard};
            char b = 'z', r = 0;
            p.client.write_all(&b, 1);
            p.server.read_exact(&r, 1);
            EXPECT_EQ(r, b);
        }).join();
    });
}

}  // namespace
