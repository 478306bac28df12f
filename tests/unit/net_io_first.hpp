// The rule every weft::net stream call follows, checked once for any
// weft::net::stream (tcp, unix, tls): the I/O is tried first, so a call that
// can finish without waiting succeeds even when its deadline has passed (or a
// deadline_scope expired, or the fiber was canceled); only a call that would
// have to wait reports timed_out / operation_canceled. A zero-size read or
// write returns 0 at once, without waiting and without meaning EOF.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <system_error>

#include "weft/weft.hpp"

namespace weft_net_test {

namespace io_first {

using namespace std::chrono_literals;

inline std::chrono::steady_clock::time_point past() { return std::chrono::steady_clock::now() - 1s; }

// A deadline far enough away that a call parking until it fails the test
// with timed_out, yet short enough that such a failure ends the test soon.
inline weft::deadline soon() { return weft::deadline(3s); }

// `reader` and `writer` are the two ends of one connection, nothing in flight.
// Two bytes sent in one write arrive together: once the first is read, the
// second is pending on the reader's side, with no wait needed to get it.
template <weft::net::stream S>
void pending_data_beats_a_passed_deadline(S& reader, S& writer) {
    char b = 0;
    std::error_code ec;
    writer.write_all("ab", 2, ec, soon());
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(reader.read(&b, 1, ec, soon()), 1u) << ec.message();
    EXPECT_EQ(b, 'a');
    EXPECT_EQ(reader.read(&b, 1, ec, past()), 1u);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(b, 'b');

    writer.write_all("cd", 2, ec, soon());
    ASSERT_EQ(reader.read_exact(&b, 1, ec, soon()), 1u) << ec.message();
    {
        weft::deadline_scope expired{past()};
        EXPECT_EQ(reader.read_exact(&b, 1), 1u);  // the throwing form: throws if it fails
        EXPECT_EQ(b, 'd');
    }
}

template <weft::net::stream S>
void no_data_and_a_passed_deadline_time_out(S& reader) {
    char b = 0;
    std::error_code ec;
    EXPECT_EQ(reader.read(&b, 1, ec, past()), 0u);
    EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
    reader.read_exact(&b, 1, ec, past());
    EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
    weft::deadline_scope expired{past()};
    reader.read(&b, 1, ec);
    EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
}

template <weft::net::stream S>
void room_to_write_beats_a_passed_deadline(S& reader, S& writer) {
    std::error_code ec;
    EXPECT_EQ(writer.write("w", 1, ec, past()), 1u);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(writer.write_all("xy", 2, ec, past()), 2u);
    EXPECT_FALSE(ec) << ec.message();
    {
        weft::deadline_scope expired{past()};
        writer.write_all("z", 1);  // throws if it fails
    }
    char got[4] = {};
    EXPECT_EQ(reader.read_exact(got, 4, ec, soon()), 4u) << ec.message();
    EXPECT_EQ(std::string(got, 4), "wxyz");
}

// read(buf, 0) is 0 at once and not EOF, data pending or not; the data stays.
template <weft::net::stream S>
void zero_size_calls_return_at_once(S& reader, S& writer) {
    char b = 0;
    std::error_code ec;
    EXPECT_EQ(reader.read(&b, 0, ec, soon()), 0u);  // nothing pending: no wait
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(reader.read(&b, 0, ec, past()), 0u);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(reader.read_exact(&b, 0, ec, past()), 0u);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(writer.write(&b, 0, ec, past()), 0u);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(writer.write_all(&b, 0, ec, past()), 0u);
    EXPECT_FALSE(ec) << ec.message();

    writer.write_all("pq", 2, ec, soon());
    ASSERT_EQ(reader.read(&b, 1, ec, soon()), 1u) << ec.message();
    EXPECT_EQ(b, 'p');
    EXPECT_EQ(reader.read(&b, 0, ec, soon()), 0u);  // 'q' pending: still 0, not an error
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(reader.read(&b, 0, ec), 0u);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(reader.read(&b, 1, ec, soon()), 1u) << ec.message();  // and 'q' is still there
    EXPECT_EQ(b, 'q');
}

// cancel() follows the same rule: a canceled fiber still gets what needs no
// wait, and its first call that would wait fails with operation_canceled.
template <weft::net::stream S>
void cancel_fails_only_a_call_that_would_wait(S& reader, S& writer) {
    std::error_code ec;
    writer.write_all("ab", 2, ec, soon());
    ASSERT_FALSE(ec) << ec.message();
    char b = 0;
    ASSERT_EQ(reader.read(&b, 1, ec, soon()), 1u) << ec.message();
    std::error_code got_ec, wait_ec, write_ec;
    std::size_t got = 0, wrote = 0;
    char got_byte = 0;
    weft::fiber_handle h = weft::spawn([&] {
        got = reader.read(&got_byte, 1, got_ec, soon());
        wrote = reader.write("r", 1, write_ec, soon());
        reader.read(&b, 1, wait_ec, soon());
    });
    h.cancel();  // before it runs
    h.join();
    EXPECT_EQ(got, 1u);
    EXPECT_FALSE(got_ec) << got_ec.message();
    EXPECT_EQ(got_byte, 'b');
    EXPECT_EQ(wrote, 1u);
    EXPECT_FALSE(write_ec) << write_ec.message();
    EXPECT_EQ(wait_ec, std::errc::operation_canceled) << wait_ec.message();
    EXPECT_EQ(writer.read(&b, 1, ec, soon()), 1u) << ec.message();
    EXPECT_EQ(b, 'r');
}

// All of the above on one connection, in an order that leaves nothing in flight.
template <weft::net::stream S>
void check_all(S& a, S& b) {
    {
        SCOPED_TRACE("pending data");
        pending_data_beats_a_passed_deadline(a, b);
    }
    {
        SCOPED_TRACE("no data");
        no_data_and_a_passed_deadline_time_out(a);
    }
    {
        SCOPED_TRACE("room to write");
        room_to_write_beats_a_passed_deadline(a, b);
    }
    {
        SCOPED_TRACE("zero size");
        zero_size_calls_return_at_once(a, b);
    }
    {
        SCOPED_TRACE("cancel");
        cancel_fails_only_a_call_that_would_wait(a, b);
    }
    {
        SCOPED_TRACE("the stream still works");
        char c = 0;
        std::error_code ec;
        b.write_all("!", 1, ec, soon());
        EXPECT_EQ(a.read(&c, 1, ec, soon()), 1u) << ec.message();
        EXPECT_EQ(c, '!');
    }
}

}  // namespace io_first
}  // namespace weft_net_test
