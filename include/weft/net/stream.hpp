// weft::net::stream: what generic code may ask of a connected byte stream.
// tcp_stream, unix_stream and tls_stream model it, so one function template
// (a protocol, an echo loop, a copy) serves plain and encrypted connections:
//
//   template <weft::net::stream S> void echo(S& s) {
//       char buf[4096];
//       while (std::size_t n = s.read(buf, sizeof buf)) s.write_all(buf, n);
//   }
//
// Each call has an error_code form and a throwing form, both with a deadline.
// shutdown ends this side's writing (a TCP half-close; TLS's close_notify);
// close releases the connection at once and wakes fibers blocked on it.
//
// Deadlines and cancellation: the I/O comes first, the deadline second, as
// for channels. A call that can do its work without waiting (data pending,
// room in the send buffer, a connection queued for accept, a record already
// decrypted) succeeds even if its deadline has passed, an enclosing
// deadline_scope has expired, or the fiber was canceled; only a call that
// would have to wait fails, at once, with timed_out / operation_canceled.
// The same rule holds for every weft::net socket call: tcp and unix accept
// and connect (a connect the kernel completes at once succeeds), udp send
// and receive. Calls that always wait fail before they start: a name's
// lookup (resolve, connect to "host:port" with a host name) and a TLS
// handshake. A loop that reads while data keeps coming therefore keeps
// going after cancel(); it stops at its first read that finds nothing.
//
// Size 0: read(buf, 0), write(buf, 0), read_exact and write_all of 0 bytes
// return 0 at once, without waiting and whether or not data is pending
// (Go's rule for Read with an empty buffer). So a read's 0 means end of
// stream only when size > 0. On a closed stream they fail with
// bad_file_descriptor, as every call does.
#pragma once

#include <concepts>
#include <cstddef>
#include <system_error>
#include <utility>

#include "weft/deadline.hpp"

namespace weft::net {

template <class S>
concept stream = std::movable<S> && std::default_initializable<S> &&
    requires(S& s, void* in, const void* out, std::size_t n, std::error_code& ec, deadline d) {
        { s.read(in, n, ec, d) } -> std::same_as<std::size_t>;
        { s.read(in, n, d) } -> std::same_as<std::size_t>;
        { s.read_exact(in, n, ec, d) } -> std::same_as<std::size_t>;
        { s.read_exact(in, n, d) } -> std::same_as<std::size_t>;
        { s.write(out, n, ec, d) } -> std::same_as<std::size_t>;
        { s.write(out, n, d) } -> std::same_as<std::size_t>;
        { s.write_all(out, n, ec, d) } -> std::same_as<std::size_t>;
        { s.write_all(out, n, d) } -> std::same_as<std::size_t>;
        // The deadline is optional everywhere: no deadline waits for ever
        // (or as long as an enclosing deadline_scope allows).
        { s.read(in, n) } -> std::same_as<std::size_t>;
        { s.write_all(out, n) } -> std::same_as<std::size_t>;
        { s.shutdown(ec, d) } -> std::same_as<void>;
        { s.shutdown(d) } -> std::same_as<void>;
        { s.shutdown() } -> std::same_as<void>;
        { s.close() } noexcept -> std::same_as<void>;
        { std::as_const(s).is_open() } noexcept -> std::same_as<bool>;
    };

}  // namespace weft::net
