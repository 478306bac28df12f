// Unix-domain stream sockets in blocking style on fibers: unix_stream and
// unix_listener. They behave like tcp_stream and tcp_listener (the same
// error_code and throwing forms, deadlines, cancellation, net_errc::eof), but
// are named by a filesystem path instead of an IP address.
//
// Paths: a path must fit sockaddr_un::sun_path with its terminating NUL
// (107 bytes on Linux); a longer one fails with std::errc::filename_too_long.
// An empty path, or one with a NUL byte inside, fails with invalid_argument.
// On Linux a path that starts with '\0' names an abstract socket (no file in
// the filesystem; the unlink options below do nothing for it).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

#include "weft/detail/basic_stream.hpp"
#include "weft/detail/fd_slot.hpp"
#include "weft/deadline.hpp"
#include "weft/net/error.hpp"
#include "weft/net/stream.hpp"

namespace weft::net {

// A connected Unix-domain stream socket. Move-only; the destructor closes it.
// Closing a stream wakes any fiber blocked on it with bad_file_descriptor.
// The byte-stream calls (read, read_exact, write, write_all, send_file, shutdown_write,
// shutdown, close, ...) are tcp_stream's, from detail::basic_stream; it
// models weft::net::stream (weft/net/stream.hpp).
class unix_stream : public detail::basic_stream<unix_stream> {
public:
    unix_stream() noexcept = default;
    explicit unix_stream(int fd) noexcept : basic_stream(fd) {}  // adopts a registered, non-blocking fd
    unix_stream(unix_stream&&) noexcept = default;
    unix_stream& operator=(unix_stream&&) noexcept = default;
    ~unix_stream() = default;

    // no_such_file_or_directory: nothing at path; connection_refused: a
    // socket file nobody listens on. When the listener's backlog is full the
    // call waits, retrying with a short back-off, until the deadline.
    static unix_stream connect(std::string_view path, std::error_code& ec, deadline d = {});
    static unix_stream connect(std::string_view path, deadline d = {});
};

static_assert(stream<unix_stream>);

struct unix_listen_options {
    int backlog = 1024;
    // If a socket file already exists at the path, remove it before binding
    // (for a server restarting after a crash). Only a socket is removed: any
    // other kind of file is left alone and bind fails with address_in_use.
    // Off: an existing file of any kind makes bind fail with address_in_use.
    bool unlink_existing = false;
    // Remove the socket file when the listener is closed (or destroyed), if
    // the file at the path is still the one this listener created. Off: the
    // file stays after close; connecting to it then gives connection_refused,
    // and binding the same path again needs unlink_existing.
    bool unlink_on_close = false;
};

// A listening Unix-domain stream socket bound to a filesystem path. accept()
// survives fd exhaustion (EMFILE/ENFILE) by backing off and retrying.
class unix_listener {
public:
    unix_listener() noexcept = default;
    unix_listener(unix_listener&& o) noexcept;
    unix_listener& operator=(unix_listener&& o) noexcept;
    unix_listener(const unix_listener&) = delete;
    unix_listener& operator=(const unix_listener&) = delete;
    ~unix_listener() { close(); }

    static unix_listener bind(std::string_view path, std::error_code& ec, const unix_listen_options& opts = {});
    static unix_listener bind(std::string_view path, const unix_listen_options& opts = {});

    unix_stream accept(std::error_code& ec, deadline d = {});
    unix_stream accept(deadline d = {});

    const std::string& path() const noexcept { return path_; }  // as given to bind
    bool is_open() const noexcept { return fd_ >= 0; }
    int native_handle() const noexcept { return fd_; }
    void close() noexcept;

private:
    detail::fd_slot fd_;
    std::string path_;
    bool unlink_on_close_ = false;
    unsigned long long dev_ = 0, ino_ = 0;  // identity of the socket file bind created
};

}  // namespace weft::net
