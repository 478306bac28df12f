// unix_stream and unix_listener on the poller. The stream calls are
// the ones tcp_stream uses (net/stream_io.hpp).
#include "weft/net/unix.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <utility>

#include "net/io.hpp"
#include "net/stream_io.hpp"
#include "weft/this_fiber.hpp"

namespace weft::net {

namespace {

std::error_code errno_code() { return std::error_code(errno, std::generic_category()); }

bool is_abstract(std::string_view path) {
#ifdef __linux__
    return !path.empty() && path.front() == '\0';
#else
    (void)path;
    return false;
#endif
}

// sockaddr_un for path; false with ec set when the path cannot be one.
bool make_sockaddr(std::string_view path, sockaddr_un& sa, socklen_t& len, std::error_code& ec) {
    std::memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (path.empty()) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return false;
    }
    const bool abstract = is_abstract(path);
    if (!abstract && path.find('\0') != std::string_view::npos) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return false;
    }
    // A filesystem path keeps room for its NUL; an abstract name has none.
    if (abstract ? path.size() > sizeof sa.sun_path : path.size() >= sizeof sa.sun_path) {
        ec = std::make_error_code(std::errc::filename_too_long);
        return false;
    }
    std::memcpy(sa.sun_path, path.data(), path.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
    return true;
}

// For messages: an abstract name's NULs as '@', as ss(8) shows them.
std::string printable(std::string_view path) {
    std::string s(path);
    std::replace(s.begin(), s.end(), '\0', '@');
    return s;
}

std::chrono::steady_clock::time_point steady_at(std::int64_t ns) {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

// ---- unix_stream ------------------------------------------------------------

unix_stream unix_stream::connect(std::string_view path, std::error_code& ec, deadline d) {
    using namespace std::chrono_literals;
    ec.clear();
    sockaddr_un sa;
    socklen_t len = 0;
    if (!make_sockaddr(path, sa, len, ec)) return {};
    // Like every socket call, the connect is tried first: one the kernel
    // completes at once (room in the listener's backlog) succeeds even under
    // a passed deadline or a pending cancel; the backoff below waits, so it
    // is where they end the call.
    std::int64_t until = d.steady_ns();
    unix_stream s(detail::open_socket(AF_UNIX, SOCK_STREAM, ec));
    if (ec) return {};
    auto backoff = std::chrono::milliseconds(1);
    for (;;) {
        detail::stream_ops::connect(s.fd_, reinterpret_cast<const sockaddr*>(&sa), len, ec, d);
        if (ec != std::errc::resource_unavailable_try_again) break;
        // The listener's backlog is full. A non-blocking Unix connect then
        // fails with EAGAIN and nothing signals when there is room again, so
        // back off (1 ms doubling to 50 ms) and retry, under the deadline
        // (an enclosing deadline_scope and cancel end the sleep themselves).
        std::error_code sleep_ec;
        this_fiber::sleep_until(std::min(std::chrono::steady_clock::now() + backoff, steady_at(until)), sleep_ec);
        std::int64_t check = until;
        if (!sleep_ec) sleep_ec = detail::begin_socket_call(check);
        if (sleep_ec) {
            ec = sleep_ec;
            return {};
        }
        backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
    }
    if (ec) return {};
    return s;
}

unix_stream unix_stream::connect(std::string_view path, deadline d) {
    std::error_code ec;
    unix_stream s = connect(path, ec, d);
    if (ec) detail::throw_error(ec, ("weft::net::unix_stream::connect to " + printable(path)).c_str());
    return s;
}

// ---- unix_listener ------------------------------------------------------------

unix_listener::unix_listener(unix_listener&& o) noexcept
    : fd_(o.fd_.take()),
      path_(std::move(o.path_)),
      unlink_on_close_(std::exchange(o.unlink_on_close_, false)),
      dev_(o.dev_),
      ino_(o.ino_) {}

unix_listener& unix_listener::operator=(unix_listener&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = o.fd_.take();
        path_ = std::move(o.path_);
        unlink_on_close_ = std::exchange(o.unlink_on_close_, false);
        dev_ = o.dev_;
        ino_ = o.ino_;
    }
    return *this;
}

void unix_listener::close() noexcept {
    if (fd_ < 0) return;
    // Unlink first, so no new client finds a file whose listener is gone; and
    // only the file this listener created, not one someone bound since.
    if (unlink_on_close_) {
        struct stat st;
        if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
            static_cast<unsigned long long>(st.st_dev) == dev_ && static_cast<unsigned long long>(st.st_ino) == ino_)
            ::unlink(path_.c_str());
        unlink_on_close_ = false;
    }
    detail::close_fd(fd_.take());
}

unix_listener unix_listener::bind(std::string_view path, std::error_code& ec, const unix_listen_options& opts) {
    ec.clear();
    if (opts.backlog < 0) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
    }
    sockaddr_un sa;
    socklen_t len = 0;
    if (!make_sockaddr(path, sa, len, ec)) return {};
    const bool in_fs = !is_abstract(path);
    unix_listener l;
    l.path_.assign(path);
    l.fd_ = detail::open_socket(AF_UNIX, SOCK_STREAM, ec);
    if (ec) {
        l.fd_ = -1;
        return {};
    }
    struct stat st;
    if (in_fs && opts.unlink_existing && ::lstat(l.path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
        ::unlink(l.path_.c_str());
    if (::bind(l.fd_, reinterpret_cast<const sockaddr*>(&sa), len) != 0) {
        ec = errno_code();
        return {};
    }
    if (in_fs && ::lstat(l.path_.c_str(), &st) == 0) {
        l.dev_ = static_cast<unsigned long long>(st.st_dev);
        l.ino_ = static_cast<unsigned long long>(st.st_ino);
    }
    if (::listen(l.fd_, opts.backlog) != 0) {
        ec = errno_code();
        l.unlink_on_close_ = in_fs;  // bind created the file; don't leave it behind
        return {};
    }
    l.unlink_on_close_ = in_fs && opts.unlink_on_close;
    return l;
}

unix_listener unix_listener::bind(std::string_view path, const unix_listen_options& opts) {
    std::error_code ec;
    unix_listener l = bind(path, ec, opts);
    if (ec) detail::throw_error(ec, ("weft::net::unix_listener::bind to " + printable(path)).c_str());
    return l;
}

unix_stream unix_listener::accept(std::error_code& ec, deadline d) {
    const int conn = detail::stream_ops::accept(fd_, ec, d);
    if (conn < 0) return {};
    return unix_stream(conn);
}

unix_stream unix_listener::accept(deadline d) {
    return detail::or_throw([&](std::error_code& ec) { return accept(ec, d); }, "weft::net::unix_listener::accept");
}

}  // namespace weft::net
