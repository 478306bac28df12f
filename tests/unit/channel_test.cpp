// weft::channel and weft::select between fibers (on one or several workers)
// and plain threads. Timing checks are lower bounds only.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "context/annotate.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

#if WEFT_ASAN || WEFT_TSAN
constexpr int kScale = 10;  // sanitizers: smaller sizes
#else
constexpr int kScale = 1;
#endif

// ---- basics -----------------------------------------------------------------

TEST(Channel, BufferedIsFifo) {
    weft::channel<int> ch(8);
    EXPECT_EQ(ch.capacity(), 8u);
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(ch.try_send(i));
    EXPECT_FALSE(ch.try_send(99));  // full
    EXPECT_EQ(ch.size(), 8u);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(ch.try_recv(), i);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    std::error_code ec;
    EXPECT_EQ(ch.try_recv(ec), std::nullopt);
    EXPECT_EQ(ec, std::errc::operation_would_block);
}

TEST(Channel, BufferWrapsAndGrowsInOrder) {
    weft::channel<int> ch(100);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 37 && ch.try_send(next_in); ++i) ++next_in;
        for (int i = 0; i < 23; ++i) {
            auto v = ch.try_recv();
            if (!v) break;
            EXPECT_EQ(*v, next_out++);
        }
    }
    while (auto v = ch.try_recv()) EXPECT_EQ(*v, next_out++);
    EXPECT_EQ(next_in, next_out);
}

TEST(Channel, RendezvousSendWaitsForAReceiver) {
    weft::channel<int> ch;  // capacity 0
    EXPECT_FALSE(ch.try_send(1));  // nobody receives
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    weft::run([&] {
        bool sent = false;
        auto s = weft::spawn([&] {
            ch.send(7);
            sent = true;
        });
        for (int i = 0; i < 5; ++i) weft::this_fiber::yield();
        EXPECT_FALSE(sent);  // parked until someone takes it
        EXPECT_EQ(ch.size(), 0u);
        EXPECT_EQ(ch.recv(), 7);
        s.join();
        EXPECT_TRUE(sent);

        // The other way round: a parked receiver takes a try_send.
        std::optional<int> got;
        auto r = weft::spawn([&] { got = ch.recv(); });
        weft::this_fiber::yield();
        EXPECT_TRUE(ch.try_send(8));
        r.join();
        EXPECT_EQ(got, 8);
    });
}

TEST(Channel, SenderParksWhileFull) {
    weft::channel<int> ch(2);
    weft::run([&] {
        int sent = 0;
        auto s = weft::spawn([&] {
            for (int i = 0; i < 5; ++i) {
                ch.send(i);
                ++sent;
            }
        });
        for (int i = 0; i < 5; ++i) weft::this_fiber::yield();
        EXPECT_EQ(sent, 2);
        for (int i = 0; i < 5; ++i) EXPECT_EQ(ch.recv(), i);
        s.join();
        EXPECT_EQ(sent, 5);
    });
}

TEST(Channel, Unbounded) {
    auto ch = weft::channel<std::string>::unbounded();
    EXPECT_EQ(ch.capacity(), SIZE_MAX);
    const int n = 100000 / kScale;
    for (int i = 0; i < n; ++i) ch.send(std::to_string(i));  // never parks, even with no fiber around
    EXPECT_EQ(ch.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_EQ(ch.recv(), std::to_string(i));
    weft::channel<int> tagged(weft::unbounded);
    EXPECT_TRUE(tagged.try_send(1));
}

// ---- close ------------------------------------------------------------------

TEST(Channel, CloseRules) {
    weft::channel<int> ch(4);
    ch.send(1);
    ch.send(2);
    EXPECT_TRUE(ch.close());
    EXPECT_FALSE(ch.close());  // idempotent
    EXPECT_TRUE(ch.closed());
    try {
        ch.send(3);
        ADD_FAILURE() << "send on a closed channel must throw";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::broken_pipe);
    }
    std::error_code ec;
    EXPECT_FALSE(ch.send(3, ec));
    EXPECT_EQ(ec, std::errc::broken_pipe);
    EXPECT_FALSE(ch.try_send(3));
    EXPECT_FALSE(ch.try_send(3, ec));
    EXPECT_EQ(ec, std::errc::broken_pipe);
    // Values sent before close still arrive, then nullopt for ever.
    EXPECT_EQ(ch.recv(), 1);
    EXPECT_EQ(ch.recv(ec), 2);
    EXPECT_FALSE(ec);
    EXPECT_EQ(ch.recv(), std::nullopt);
    EXPECT_EQ(ch.recv(ec), std::nullopt);
    EXPECT_FALSE(ec);  // closed is not an error
    EXPECT_EQ(ch.try_recv(ec), std::nullopt);
    EXPECT_FALSE(ec);
    EXPECT_EQ(ch.recv_for(1s), std::nullopt);
}

TEST(Channel, FailedSendKeepsTheValue) {
    weft::channel<std::unique_ptr<int>> ch(1);
    auto a = std::make_unique<int>(1);
    EXPECT_TRUE(ch.try_send(std::move(a)));
    EXPECT_EQ(a, nullptr);  // handed over
    auto b = std::make_unique<int>(2);
    EXPECT_FALSE(ch.try_send(std::move(b)));  // full
    ASSERT_NE(b, nullptr);
    std::error_code ec;
    EXPECT_FALSE(ch.send_for(std::move(b), 1ms, ec));
    EXPECT_EQ(ec, std::errc::timed_out);
    ASSERT_NE(b, nullptr);
    ch.close();
    EXPECT_THROW(ch.send(std::move(b)), std::system_error);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(*b, 2);
}

TEST(Channel, CloseWakesParkedSendersAndReceivers) {
    weft::channel<int> full(1), empty(1);
    full.send(0);
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        int receivers_done = 0, senders_done = 0;
        for (int i = 0; i < 5; ++i) {
            hs.push_back(weft::spawn([&] {
                EXPECT_EQ(empty.recv(), std::nullopt);
                ++receivers_done;
            }));
            hs.push_back(weft::spawn([&, i] {
                std::error_code ec;
                int v = 100 + i;
                EXPECT_FALSE(full.send(std::move(v), ec));
                EXPECT_EQ(ec, std::errc::broken_pipe);
                EXPECT_EQ(v, 100 + i);
                ++senders_done;
            }));
        }
        for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
        EXPECT_EQ(receivers_done + senders_done, 0);
        empty.close();
        full.close();
        for (auto& h : hs) h.join();
        EXPECT_EQ(receivers_done, 5);
        EXPECT_EQ(senders_done, 5);
        EXPECT_EQ(full.recv(), 0);  // buffered before close
        EXPECT_EQ(full.recv(), std::nullopt);
    });
}

TEST(Channel, CloseWakesAPlainThread) {
    weft::channel<int> ch;
    std::thread t([&] { EXPECT_EQ(ch.recv(), std::nullopt); });
    std::this_thread::sleep_for(10ms);
    ch.close();
    t.join();
}

TEST(Channel, RangeFor) {
    weft::channel<int> ch(4);
    std::vector<int> got;
    weft::run([&] {
        auto p = weft::spawn([&] {
            for (int i = 0; i < 100; ++i) ch.send(i);
            ch.close();
        });
        for (auto v : ch) got.push_back(v);
        p.join();
    });
    std::vector<int> want(100);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(got, want);
}

// ---- move-only --------------------------------------------------------------

TEST(Channel, MoveOnlyValues) {
    weft::channel<std::unique_ptr<int>> ch;
    int sum = 0;
    weft::run([&] {
        auto p = weft::spawn([&] {
            for (int i = 1; i <= 50; ++i) ch.send(std::make_unique<int>(i));
            ch.close();
        });
        for (auto& v : ch) {
            std::unique_ptr<int> mine = std::move(v);
            sum += *mine;
        }
        p.join();
    });
    EXPECT_EQ(sum, 50 * 51 / 2);
    // Buffered move-only values left in a channel are destroyed with it.
    auto q = weft::channel<std::unique_ptr<int>>::unbounded();
    for (int i = 0; i < 40; ++i) q.send(std::make_unique<int>(i));
}

// ---- timeouts, deadlines, cancellation -------------------------------------

TEST(Channel, RecvAndSendTimeOut) {
    weft::channel<int> ch(1);
    weft::run([&] {
        auto t0 = clk::now();
        std::error_code ec;
        EXPECT_EQ(ch.recv_for(30ms, ec), std::nullopt);
        EXPECT_EQ(ec, std::errc::timed_out);
        EXPECT_GE(clk::now() - t0, 30ms);

        ch.send(1);
        t0 = clk::now();
        EXPECT_FALSE(ch.send_for(2, 20ms, ec));
        EXPECT_EQ(ec, std::errc::timed_out);
        EXPECT_GE(clk::now() - t0, 20ms);

        t0 = clk::now();
        try {
            ch.send_until(2, clk::now() + 20ms);
            ADD_FAILURE() << "expected timed_out";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::timed_out);
        }
        EXPECT_GE(clk::now() - t0, 20ms);
        EXPECT_EQ(ch.recv(), 1);
        EXPECT_THROW(ch.recv_for(5ms), std::system_error);
    });
}

TEST(Channel, TimeoutsOnAPlainThread) {
    weft::channel<int> ch;
    const auto t0 = clk::now();
    std::error_code ec;
    EXPECT_EQ(ch.recv_for(20ms, ec), std::nullopt);
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_GE(clk::now() - t0, 20ms);
}

TEST(Channel, DeadlineAlreadyPassed) {
    weft::channel<int> ch(1);
    const auto past = clk::now() - 1s;
    std::error_code ec;
    EXPECT_EQ(ch.recv_until(past, ec), std::nullopt);
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_TRUE(ch.send_until(5, past, ec));  // room: completes despite the deadline
    EXPECT_FALSE(ec);
    EXPECT_FALSE(ch.send_until(6, past, ec));
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_EQ(ch.recv_until(past, ec), 5);  // ready: completes despite the deadline
    EXPECT_FALSE(ec);
    weft::run([&] {
        EXPECT_EQ(ch.recv_until(past, ec), std::nullopt);
        EXPECT_EQ(ec, std::errc::timed_out);
    });
}

TEST(Channel, DeadlineScopeEndsAWait) {
    weft::channel<int> ch;
    weft::run([&] {
        auto t0 = clk::now();
        {
            weft::deadline_scope scope{20ms};
            try {
                (void)ch.recv();
                ADD_FAILURE() << "expected timed_out";
            } catch (const std::system_error& e) {
                EXPECT_EQ(e.code(), std::errc::timed_out);
            }
            std::error_code ec;
            EXPECT_FALSE(ch.send_for(1, 10s, ec));  // the scope is earlier, and already passed
            EXPECT_EQ(ec, std::errc::timed_out);
        }
        EXPECT_GE(clk::now() - t0, 20ms);
    });
}

TEST(Channel, CancelWhileBlockedInRecvAndSend) {
    weft::channel<int> ch;
    weft::run([&] {
        std::error_code rec, sec;
        auto r = weft::spawn([&] { EXPECT_EQ(ch.recv(rec), std::nullopt); });
        weft::this_fiber::yield();
        r.cancel();
        r.join();
        EXPECT_EQ(rec, std::errc::operation_canceled);

        int v = 5;
        auto s = weft::spawn([&] { EXPECT_FALSE(ch.send(std::move(v), sec)); });
        weft::this_fiber::yield();
        s.cancel();
        s.join();
        EXPECT_EQ(sec, std::errc::operation_canceled);
        EXPECT_EQ(v, 5);

        auto t = weft::spawn([&] { EXPECT_THROW(ch.recv_for(10s), std::system_error); });
        weft::this_fiber::yield();
        t.cancel();
        t.join();
        // Nothing is left parked: a later exchange works normally.
        auto p = weft::spawn([&] { ch.send(9); });
        EXPECT_EQ(ch.recv(), 9);
        p.join();
    });
}

TEST(Channel, CanceledFiberStillTakesAReadyValue) {
    weft::channel<int> ch(1);
    ch.send(3);
    weft::run([&] {
        auto f = weft::spawn([&] {
            weft::this_fiber::yield();
            EXPECT_EQ(ch.recv(), 3);  // ready: no need to block
            std::error_code ec;
            EXPECT_EQ(ch.recv(ec), std::nullopt);
            EXPECT_EQ(ec, std::errc::operation_canceled);
        });
        f.cancel();
        f.join();
    });
}

// ---- many producers and consumers -----------------------------------------

void run_chain(std::size_t capacity) {
    constexpr int producers = 4, consumers = 4;
    const int per = 10000 / kScale;
    weft::channel<long> ch(capacity);
    std::atomic<long> sum{0}, count{0};
    std::vector<int> seen(static_cast<std::size_t>(producers * per), 0);
    std::atomic<int> dup{0};
    weft::run([&] {
        std::vector<weft::fiber_handle> ps, cs;
        for (int p = 0; p < producers; ++p)
            ps.push_back(weft::spawn([&, p] {
                for (int i = 0; i < per; ++i) ch.send(static_cast<long>(p) * per + i);
            }));
        for (int c = 0; c < consumers; ++c)
            cs.push_back(weft::spawn([&] {
                for (long v : ch) {
                    if (seen[static_cast<std::size_t>(v)]++ != 0) ++dup;
                    sum += v;
                    ++count;
                }
            }));
        for (auto& h : ps) h.join();
        ch.close();
        for (auto& h : cs) h.join();
    });
    const long n = static_cast<long>(producers) * per;
    EXPECT_EQ(count.load(), n);
    EXPECT_EQ(sum.load(), n * (n - 1) / 2);
    EXPECT_EQ(dup.load(), 0);
}

TEST(Channel, ProducersConsumersRendezvous) { run_chain(0); }
TEST(Channel, ProducersConsumersBuffered) { run_chain(16); }

// Producers and consumers on several workers (one weft::run per thread) and
// plain threads, all on the same channels, through a relay stage.
TEST(Channel, AcrossWorkersAndPlainThreads) {
    const int per = 10000 / kScale;
    constexpr int producers = 4;
    weft::channel<long> first(8), second;  // second: rendezvous
    std::atomic<long> sum{0}, count{0};
    std::atomic<int> producers_left{producers};
    auto produce = [&](int p) {
        for (int i = 0; i < per; ++i) first.send(static_cast<long>(p) * per + i);
        if (--producers_left == 0) first.close();
    };
    std::atomic<int> relays_left{2};
    auto relay = [&] {
        for (long v : first) second.send(v);
        if (--relays_left == 0) second.close();
    };
    auto consume = [&] {
        for (long v : second) {
            sum += v;
            ++count;
        }
    };
    std::vector<std::thread> ts;
    ts.emplace_back([&] { produce(0); });  // a plain thread
    ts.emplace_back([&] {                   // a second worker: producers and a relay
        weft::run([&] {
            auto a = weft::spawn([&] { produce(1); });
            auto b = weft::spawn([&] { produce(2); });
            auto r = weft::spawn(relay);
            a.join();
            b.join();
            r.join();
        });
    });
    ts.emplace_back(consume);  // a plain-thread consumer
    weft::run([&] {            // this worker: a producer, a relay, consumers
        auto p = weft::spawn([&] { produce(3); });
        auto r = weft::spawn(relay);
        auto c1 = weft::spawn(consume);
        auto c2 = weft::spawn(consume);
        p.join();
        r.join();
        c1.join();
        c2.join();
    });
    for (auto& t : ts) t.join();
    const long n = static_cast<long>(producers) * per;
    EXPECT_EQ(count.load(), n);
    EXPECT_EQ(sum.load(), n * (n - 1) / 2);
}

TEST(Channel, PlainThreadFeedsFibers) {
    weft::channel<int> ch(4);
    const int n = 20000 / kScale;
    long sum = 0;
    std::thread t([&] {
        for (int i = 0; i < n; ++i) ch.send(i);
        ch.close();
    });
    weft::run([&] {
        std::vector<weft::fiber_handle> hs;
        for (int i = 0; i < 3; ++i)
            hs.push_back(weft::spawn([&] {
                for (int v : ch) sum += v;  // one worker: no race on sum
            }));
        for (auto& h : hs) h.join();
    });
    t.join();
    EXPECT_EQ(sum, static_cast<long>(n) * (n - 1) / 2);
}

// ---- select -----------------------------------------------------------------

TEST(Select, FairAmongReadyCases) {
    const int rounds = 10000 / kScale;
    auto a = weft::channel<int>::unbounded();
    auto b = weft::channel<int>::unbounded();
    weft::channel<int> c(1);  // a send case with room, refreshed every round
    for (int i = 0; i < rounds; ++i) {
        a.send(i);
        b.send(i);
    }
    int wins[3] = {0, 0, 0};
    int fired = 0;
    for (int i = 0; i < rounds; ++i) {
        while (c.try_recv()) {
        }
        const int w = weft::select(weft::recv_case(a, [&](std::optional<int> v) { EXPECT_TRUE(v); ++fired; }),
                                   weft::recv_case(b, [&](std::optional<int> v) { EXPECT_TRUE(v); ++fired; }),
                                   weft::send_case(c, i, [&] { ++fired; }));
        ASSERT_GE(w, 0);
        ASSERT_LT(w, 3);
        ++wins[w];
    }
    EXPECT_EQ(fired, rounds);  // exactly one callback per select
    for (int w : wins) EXPECT_GE(w, rounds / 5) << wins[0] << " " << wins[1] << " " << wins[2];
    // Only the winners moved values.
    EXPECT_EQ(a.size() + b.size(), static_cast<std::size_t>(2 * rounds - wins[0] - wins[1]));
}

TEST(Select, TimeoutCaseFires) {
    weft::channel<int> a, b;
    weft::run([&] {
        const auto t0 = clk::now();
        bool timed_out = false;
        const int w = weft::select(weft::recv_case(a, [](std::optional<int>) { ADD_FAILURE(); }),
                                   weft::send_case(b, 1, [] { ADD_FAILURE(); }),
                                   weft::timeout_case(30ms, [&] { timed_out = true; }));
        EXPECT_EQ(w, 2);
        EXPECT_TRUE(timed_out);
        EXPECT_GE(clk::now() - t0, 30ms);
        // Nothing stayed parked on a or b.
        EXPECT_FALSE(b.try_send(1));
        EXPECT_EQ(a.try_recv(), std::nullopt);
    });
    // On a plain thread too, with a deadline already passed.
    EXPECT_EQ(weft::select(weft::recv_case(a, [](std::optional<int>) {}), weft::timeout_case(clk::now() - 1s)), 1);
}

TEST(Select, DefaultCase) {
    weft::channel<int> a(1);
    EXPECT_EQ(weft::select(weft::recv_case(a, [](std::optional<int>) {}), weft::default_case()), 1);
    a.send(4);
    int got = 0;
    EXPECT_EQ(weft::select(weft::recv_case(a, [&](std::optional<int> v) { got = *v; }), weft::default_case()), 0);
    EXPECT_EQ(got, 4);
}

TEST(Select, OnAClosedChannel) {
    weft::channel<int> a, b;
    a.close();
    bool closed_seen = false;
    EXPECT_EQ(weft::select(weft::recv_case(b, [](std::optional<int>) { ADD_FAILURE(); }),
                           weft::recv_case(a, [&](std::optional<int> v) { closed_seen = !v; })),
              1);
    EXPECT_TRUE(closed_seen);
    // A send case on a closed channel: an error, or its fn(error_code) is told.
    try {
        weft::select(weft::send_case(a, 1, [] { ADD_FAILURE(); }));
        ADD_FAILURE() << "expected broken_pipe";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::broken_pipe);
    }
    std::error_code ec;
    EXPECT_EQ(weft::select(ec, weft::send_case(a, 1, [] {})), -1);
    EXPECT_EQ(ec, std::errc::broken_pipe);
    std::error_code told;
    EXPECT_EQ(weft::select(weft::send_case(a, 1, [&](std::error_code e) { told = e; })), 0);
    EXPECT_EQ(told, std::errc::broken_pipe);
    // Closing wakes a parked select.
    weft::run([&] {
        bool woke = false;
        auto f = weft::spawn([&] {
            weft::select(weft::recv_case(b, [&](std::optional<int> v) { woke = !v; }),
                         weft::timeout_case(10s, [] { ADD_FAILURE(); }));
        });
        weft::this_fiber::yield();
        b.close();
        f.join();
        EXPECT_TRUE(woke);
    });
}

TEST(Select, ParkedSelectFiresExactlyOnce) {
    // Many senders race for selects parked on two rendezvous channels: each
    // select takes exactly one value, and every value lands exactly once.
    const int n = 2000 / kScale;
    weft::channel<int> a, b;
    long received = 0, got_sum = 0;
    std::atomic<long> sent_sum{0};
    weft::run([&] {
        auto sel = weft::spawn([&] {
            for (int i = 0; i < 2 * n; ++i) {
                int fired = 0;
                weft::select(weft::recv_case(a, [&](std::optional<int> v) { ++fired; got_sum += *v; }),
                             weft::recv_case(b, [&](std::optional<int> v) { ++fired; got_sum += *v; }));
                EXPECT_EQ(fired, 1);
                ++received;
            }
        });
        auto sa = weft::spawn([&] {
            for (int i = 0; i < n; ++i) {
                a.send(i);
                sent_sum += i;
            }
        });
        std::thread sb([&] {  // another thread races on the other channel
            for (int i = 0; i < n; ++i) {
                b.send(1000000 + i);
                sent_sum += 1000000 + i;
            }
        });
        sa.join();
        sel.join();
        sb.join();
    });
    EXPECT_EQ(received, 2 * n);
    EXPECT_EQ(got_sum, sent_sum.load());
}

TEST(Select, SendAndRecvCasesAcrossFibers) {
    // Two fibers each select {send to the other, recv from the other}; the
    // pair of selects must pair up, never deadlock, never lose a value.
    const int rounds = 2000 / kScale;
    weft::channel<int> ab, ba;
    long total = 0;
    weft::run([&] {
        auto side = [&](weft::channel<int>& out, weft::channel<int>& in, int tag) {
            for (int i = 0; i < rounds; ++i)
                weft::select(weft::send_case(out, tag, [] {}),
                             weft::recv_case(in, [&](std::optional<int> v) { total += *v; }));
        };
        auto x = weft::spawn([&] { side(ab, ba, 1); });
        auto y = weft::spawn([&] { side(ba, ab, 1); });
        x.join();
        y.join();
    });
    EXPECT_EQ(total, rounds);  // each round of the pair moves one value
}

TEST(Select, CanceledAndScoped) {
    weft::channel<int> a;
    weft::run([&] {
        std::error_code ec;
        auto f = weft::spawn([&] {
            EXPECT_EQ(weft::select(ec, weft::recv_case(a, [](std::optional<int>) { ADD_FAILURE(); }),
                                   weft::timeout_case(10s, [] { ADD_FAILURE(); })),
                      -1);
        });
        weft::this_fiber::yield();
        f.cancel();
        f.join();
        EXPECT_EQ(ec, std::errc::operation_canceled);
        weft::deadline_scope scope{20ms};
        try {
            weft::select(weft::recv_case(a, [](std::optional<int>) {}), weft::timeout_case(10s, [] { ADD_FAILURE(); }));
            ADD_FAILURE() << "expected timed_out";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::timed_out);
        }
    });
}

TEST(Select, SameChannelTwice) {
    weft::channel<int> a(1);
    a.send(1);
    int recvs = 0, sends = 0;
    for (int i = 0; i < 100; ++i) {
        weft::select(weft::recv_case(a, [&](std::optional<int> v) { ++recvs; EXPECT_TRUE(v); }),
                     weft::send_case(a, 1, [&] { ++sends; }));
    }
    EXPECT_EQ(recvs + sends, 100);
    EXPECT_EQ(a.size(), static_cast<std::size_t>(1 + sends - recvs));
}

}  // namespace
