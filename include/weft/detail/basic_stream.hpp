// The byte-stream members tcp_stream and unix_stream share: one descriptor,
// and read, read_pooled, read_exact, write, write_all, send_file, shutdown and close over it, in an
// error_code form and a throwing form. Derived names the socket type, so a
// throwing call says which one failed ("weft::net::tcp_stream::read: ...").
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "weft/deadline.hpp"
#include "weft/detail/fd_slot.hpp"
#include "weft/net/pooled_buffer.hpp"

namespace weft::detail {

// Defined in src/net/basic_stream.cpp for each socket stream type.
template <class Derived>
class basic_stream {
public:
    // Reads what is there, at least one byte; 0 means the peer closed its
    // side. read(buf, 0) returns 0 at once (no wait, not EOF), as do the
    // other calls with nothing to move. The deadline rule: weft/net/stream.hpp.
    std::size_t read(void* data, std::size_t size, std::error_code& ec, deadline d = {});
    std::size_t read(void* data, std::size_t size, deadline d = {});
    // Reads what is there, at least one byte and at most
    // pooled_buffer::capacity, into a buffer of the calling thread's pool
    // (weft/net/pooled_buffer.hpp), and hands it out as a lease; an empty
    // lease (size() 0, no buffer) without an error means the peer closed its
    // side. While it waits the call holds no buffer, so an idle connection
    // costs no buffer memory. On io_uring the receive goes into the ring
    // with a buffer the kernel picks from the worker's provided-buffer ring
    // (16 buffers of the pool, doubled up to 256 whenever they were all in
    // use) only when data arrives; elsewhere, and on io_uring when the ring
    // is empty, it waits for readability first and
    // takes a buffer only to receive what arrived (a receive that finds
    // nothing after all gives it back and waits again). The deadline and
    // cancel rule is read's: data already there is returned even when the
    // deadline has passed. On error the lease is empty.
    net::pooled_buffer read_pooled(std::error_code& ec, deadline d = {});
    net::pooled_buffer read_pooled(deadline d = {});
    // Reads exactly size bytes; net_errc::eof if the peer closes first
    // (the return value says how many arrived).
    std::size_t read_exact(void* data, std::size_t size, std::error_code& ec, deadline d = {});
    std::size_t read_exact(void* data, std::size_t size, deadline d = {});
    // Writes what the kernel takes now (at least one byte).
    std::size_t write(const void* data, std::size_t size, std::error_code& ec, deadline d = {});
    std::size_t write(const void* data, std::size_t size, deadline d = {});
    // Writes all of it; on error the return value says how much went out.
    std::size_t write_all(const void* data, std::size_t size, std::error_code& ec, deadline d = {});
    std::size_t write_all(const void* data, std::size_t size, deadline d = {});

    // Sends count bytes of the file file_fd from offset (sendfile(2): the
    // bytes go from the page cache to the socket without a copy through
    // user space), all of them unless an error stops it: the return value
    // says how many went out; net_errc::eof when the file ends first. The
    // file's offset does not move. The fiber parks whenever the socket's
    // buffer is full, until the deadline (timed_out), a cancel or a close.
    // Pages of the file not in the page cache are read from the disk by the
    // call itself, on the worker's thread (read hot files this way, or
    // warm them with weft::fs first). bad_file_descriptor for a bad file_fd.
    std::size_t send_file(int file_fd, std::uint64_t offset, std::size_t count, std::error_code& ec,
                          deadline d = {});
    std::size_t send_file(int file_fd, std::uint64_t offset, std::size_t count, deadline d = {});

    void shutdown_write(std::error_code& ec) noexcept;  // half-close: the peer reads EOF
    void shutdown_write();
    // The weft::net::stream spelling of shutdown_write: a socket's half-close
    // never waits, so the deadline only matters to streams that must tell
    // the peer first (tls_stream); like every call that needs no wait, it
    // succeeds under a passed deadline or a pending cancel.
    void shutdown(std::error_code& ec, deadline d = {});
    void shutdown(deadline d = {});

    bool is_open() const noexcept { return fd_ >= 0; }
    int native_handle() const noexcept { return fd_; }
    void close() noexcept;
    int release() noexcept { return fd_.take(); }

protected:
    basic_stream() noexcept = default;
    explicit basic_stream(int fd) noexcept : fd_(fd) {}
    basic_stream(basic_stream&& o) noexcept : fd_(o.release()) {}
    basic_stream& operator=(basic_stream&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = o.release();
        }
        return *this;
    }
    basic_stream(const basic_stream&) = delete;
    basic_stream& operator=(const basic_stream&) = delete;
    ~basic_stream() { close(); }

    fd_slot fd_;
};

}  // namespace weft::detail
