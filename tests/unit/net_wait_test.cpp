// weft::net waits that end early: deadlines, deadline_scope, cancellation,
// and close while another fiber is blocked.
#include <gtest/gtest.h>

#include "net_test_support.hpp"

namespace {
using namespace weft_net_test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using weft::net::address;
using weft::net::tcp_listener;
using weft::net::tcp_stream;

// ---- deadlines --------------------------------------------------------------------

TEST(Deadline, AlreadyPassedTimesOutAtOnce) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        std::error_code ec;
        (void)l.accept(ec, steady::now() - 1s);  // nobody is connecting
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        conn_pair p = connect_pair(l);
        char b;
        p.server.read(&b, 1, ec, steady::now() - 1s);  // nothing sent
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        p.server.read_exact(&b, 1, ec, steady::now() - 1s);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_EQ(thrown_code([&] { p.server.read(&b, 1, steady::now() - 1s); }), std::errc::timed_out);
        {
            weft::deadline_scope past{steady::now() - 1s};
            (void)l.accept(ec);
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
            p.server.read(&b, 1, ec);
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        }
        // the stream still works afterwards
        p.client.write_all("k", 1, ec);
        EXPECT_EQ(p.server.read(&b, 1, ec), 1u);
        EXPECT_FALSE(ec);
        EXPECT_EQ(b, 'k');
    });
}

TEST(Deadline, ExpiresWhileBlockedInRead) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        bool done = false;
        scoped_fiber dog = watchdog(p.client, done, 3s);
        char b;
        std::error_code ec;
        const auto start = steady::now();
        p.server.read(&b, 1, ec, start + 50ms);
        const auto elapsed = steady::now() - start;
        done = true;
        dog.join();
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_GE(elapsed, 50ms);
        // a duration converts to a deadline from now
        const auto start2 = steady::now();
        p.server.read(&b, 1, ec, 50ms);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_GE(steady::now() - start2, 50ms);
        // the timed-out wait left nothing behind: a later read gets data
        p.client.write_all("d", 1, ec);
        EXPECT_EQ(p.server.read(&b, 1, ec, 10s), 1u);
        EXPECT_FALSE(ec);
    });
}

TEST(Deadline, ExpiresWhileBlockedInAccept) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        std::error_code ec;
        const auto start = steady::now();
        (void)l.accept(ec, start + 50ms);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_GE(steady::now() - start, 50ms);
        conn_pair p = connect_pair(l);  // the listener still works
        EXPECT_TRUE(p.server.is_open());
    });
}

TEST(Deadline, ScopeAroundARead) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        bool done = false;
        scoped_fiber dog = watchdog(p.client, done, 3s);
        char b;
        std::error_code ec;
        const auto start = steady::now();
        {
            weft::deadline_scope s{50ms};
            p.server.read(&b, 1, ec);
        }
        const auto elapsed = steady::now() - start;
        done = true;
        dog.join();
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_GE(elapsed, 50ms);
        // the call's own later deadline does not extend the scope's
        done = false;
        scoped_fiber dog2 = watchdog(p.client, done, 3s);
        {
            weft::deadline_scope s{50ms};
            p.server.read(&b, 1, ec, 10s);
        }
        done = true;
        dog2.join();
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
    });
}

TEST(Deadline, NestedScopesTakeTheEarliest) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        char b;
        std::error_code ec;
        {  // outer earlier than inner: the outer one rules
            bool done = false;
            scoped_fiber dog = watchdog(p.client, done, 2s);
            const auto start = steady::now();
            {
                weft::deadline_scope outer{50ms};
                weft::deadline_scope inner{30s};
                p.server.read(&b, 1, ec);
            }
            const auto elapsed = steady::now() - start;
            done = true;
            dog.join();
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
            EXPECT_GE(elapsed, 50ms);
            if (!ec) {  // the watchdog's byte arrived: drain nothing else
                EXPECT_EQ(b, 'w');
            }
        }
        {  // inner earlier than outer: the inner one rules, and leaving it restores the outer
            bool done = false;
            scoped_fiber dog = watchdog(p.client, done, 2s);
            weft::deadline_scope outer{30s};
            {
                weft::deadline_scope inner{50ms};
                p.server.read(&b, 1, ec);
            }
            done = true;
            dog.join();
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
            // the expired inner deadline is gone: a read that waits past it succeeds
            bool done2 = false;
            scoped_fiber late = watchdog(p.client, done2, 200ms);
            const auto start = steady::now();
            EXPECT_EQ(p.server.read(&b, 1, ec), 1u);
            EXPECT_FALSE(ec) << ec.message();
            EXPECT_GE(steady::now() - start, 150ms);
            late.join();
        }
    });
}

// ---- cancellation ------------------------------------------------------------------

TEST(Cancel, WhileBlockedInAccept) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        std::error_code first, later, later_sleep;
        bool returned = false;
        auto h = weft::spawn([&] {
            weft::deadline_scope g{kGuard};
            (void)l.accept(first);
            returned = true;
            (void)l.accept(later, 5s);  // canceled stays canceled
            weft::this_fiber::sleep_for(5s, later_sleep);
        });
        weft::this_fiber::sleep_for(20ms);
        EXPECT_FALSE(returned);
        h.cancel();
        h.join();
        EXPECT_EQ(first, std::errc::operation_canceled) << first.message();
        EXPECT_EQ(later, std::errc::operation_canceled) << later.message();
        EXPECT_EQ(later_sleep, std::errc::operation_canceled) << later_sleep.message();
        conn_pair p = connect_pair(l);  // the listener is still usable by another fiber
        EXPECT_TRUE(p.server.is_open());
    });
}

TEST(Cancel, WhileBlockedInRead) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code first, later;
        auto h = weft::spawn([&] {
            weft::deadline_scope g{kGuard};
            char b;
            p.server.read(&b, 1, first);
            p.server.read(&b, 1, later, 5s);
        });
        weft::this_fiber::sleep_for(20ms);
        h.cancel();
        h.join();
        EXPECT_EQ(first, std::errc::operation_canceled) << first.message();
        EXPECT_EQ(later, std::errc::operation_canceled) << later.message();
        // the stream is still usable by another fiber
        std::error_code ec;
        char b = 0;
        scoped_fiber reader([&] { p.server.read(&b, 1, ec, 10s); });
        weft::this_fiber::yield();
        p.client.write_all("r", 1);
        reader.join();
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(b, 'r');
    });
}

TEST(Cancel, WhileBlockedInSleep) {
    weft::run([] {
        std::error_code first, later;
        auto h = weft::spawn([&] {
            weft::this_fiber::sleep_for(10s, first);
            weft::this_fiber::sleep_for(10s, later);
        });
        weft::this_fiber::sleep_for(20ms);
        h.cancel();
        h.join();
        EXPECT_EQ(first, std::errc::operation_canceled) << first.message();
        EXPECT_EQ(later, std::errc::operation_canceled) << later.message();
    });
}

TEST(Cancel, BeforeTheFirstBlockingCall) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code read_ec, accept_ec, throw_ec;
        auto h = weft::spawn([&] {
            char b;
            p.server.read(&b, 1, read_ec, 5s);
            (void)l.accept(accept_ec, 5s);
            throw_ec = thrown_code([&] { p.server.read(&b, 1, 5s); });
        });
        h.cancel();  // it has not run yet
        h.join();
        EXPECT_EQ(read_ec, std::errc::operation_canceled) << read_ec.message();
        EXPECT_EQ(accept_ec, std::errc::operation_canceled) << accept_ec.message();
        EXPECT_EQ(throw_ec, std::errc::operation_canceled) << throw_ec.message();
    });
}

// ---- close while blocked -------------------------------------------------------------

TEST(Close, WakesAFiberBlockedReadingWithBadFileDescriptor) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        conn_pair p = connect_pair(l);
        std::error_code ec;
        bool returned = false;
        scoped_fiber reader([&] {
            weft::deadline_scope g{kGuard};
            char b;
            p.server.read(&b, 1, ec);
            returned = true;
        });
        weft::this_fiber::sleep_for(20ms);
        EXPECT_FALSE(returned);
        p.server.close();
        EXPECT_FALSE(p.server.is_open());
        reader.join();
        EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
        char b;
        EXPECT_EQ(p.client.read(&b, 1, ec, 10s), 0u);  // the peer sees EOF
        EXPECT_FALSE(ec) << ec.message();
    });
}

TEST(Close, WakesAFiberBlockedInAccept) {
    weft::run([] {
        weft::deadline_scope guard{kGuard};
        tcp_listener l = listen_v4();
        std::error_code ec;
        scoped_fiber acceptor([&] {
            weft::deadline_scope g{kGuard};
            (void)l.accept(ec);
        });
        weft::this_fiber::sleep_for(20ms);
        l.close();
        acceptor.join();
        EXPECT_EQ(ec, std::errc::bad_file_descriptor) << ec.message();
    });
}

}  // namespace
