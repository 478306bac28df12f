// weft::channel between many fibers, several workers and plain threads, and
// the races between a hand-off and a waiter that gives up.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "sync_test_support.hpp"
#include "weft/weft.hpp"

namespace {

using namespace std::chrono_literals;
constexpr int kScale = weft_test::sanitizer_scale;

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

// A receiver that keeps timing out while a sender on another thread keeps
// timing out too: every hand-off races with a waiter giving up. A value is
// either handed over exactly once or stays with the sender, who retries it.
void run_timeout_race(std::size_t capacity) {
    const int n = 3000 / kScale;
    weft::channel<int> ch(capacity);
    std::vector<int> got;
    got.reserve(static_cast<std::size_t>(n));
    std::atomic<bool> sender_gave_up{false};
    std::thread sender([&] {
        const auto stop_at = std::chrono::steady_clock::now() + 60s;
        for (int v = 0; v < n && std::chrono::steady_clock::now() < stop_at;) {
            std::error_code ec;
            if (ch.send_for(v, 20us, ec)) {
                ++v;
            } else if (ec != std::errc::timed_out) {
                ADD_FAILURE() << "send_for: " << ec.message();
                break;
            }
        }
        if (std::chrono::steady_clock::now() >= stop_at) sender_gave_up = true;
        ch.close();
    });
    weft::run([&] {
        const auto stop_at = std::chrono::steady_clock::now() + 60s;
        while (std::chrono::steady_clock::now() < stop_at) {
            std::error_code ec;
            std::optional<int> v = ch.recv_for(20us, ec);
            if (v) {
                got.push_back(*v);
            } else if (!ec) {
                break;  // closed and drained
            } else if (ec != std::errc::timed_out) {
                ADD_FAILURE() << "recv_for: " << ec.message();
                break;
            }
        }
    });
    sender.join();
    EXPECT_FALSE(sender_gave_up.load());
    ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i);
}

TEST(Channel, TimeoutsRaceWithHandOffsRendezvous) { run_timeout_race(0); }
TEST(Channel, TimeoutsRaceWithHandOffsBuffered) { run_timeout_race(2); }

// Two workers play ping-pong: every message is a hand-off to a fiber parked
// on the other worker, woken remotely.
TEST(Channel, PingPongBetweenTwoWorkers) {
    const int rounds = 5000 / kScale;
    weft::channel<int> ping, pong;
    long sum = 0;
    std::thread other = weft_test::worker_thread([&] {
        while (auto v = ping.recv()) pong.send(*v + 1);
    });
    weft::run([&] {
        for (int i = 0; i < rounds; ++i) {
            ping.send(i);
            std::optional<int> v = pong.recv();
            ASSERT_TRUE(v.has_value());
            sum += *v;
        }
        ping.close();
    });
    other.join();
    EXPECT_EQ(sum, static_cast<long>(rounds) * (rounds - 1) / 2 + rounds);
}

}  // namespace
