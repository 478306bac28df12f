// weft::fs::file (see weft/fs.hpp): on a fiber of an io_uring worker each
// call is SQEs of the worker's ring (open, close and size too); elsewhere one
// job on the offload pool (the whole of a write_all, retries included). Either
// way the calling fiber parks and its worker goes on with the others.
#include "weft/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <new>

#include "fs/file_io.hpp"
#include "net/stream_io.hpp"  // throw_error, or_throw
#include "platform/quiet_signal.hpp"
#include "reactor/poller.hpp"
#include "weft/offload.hpp"

namespace weft::fs {

namespace {
using detail::file_call;
using detail::file_op;

std::error_code errno_code(int e) noexcept { return std::error_code(e, std::generic_category()); }

// What every data call checks before it goes anywhere.
std::error_code check(int fd, std::size_t size, std::uint64_t offset) noexcept {
    if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
    if (size > static_cast<std::size_t>(SSIZE_MAX)) return std::make_error_code(std::errc::invalid_argument);
    if (offset > static_cast<std::uint64_t>(INT64_MAX) || size > static_cast<std::uint64_t>(INT64_MAX) - offset)
        return std::make_error_code(std::errc::invalid_argument);
    return {};
}

// Runs a job of plain syscalls on the offload pool (here, outside a fiber).
// The error: why the pool could not take it (it could not start its threads).
template <class Fn>
[[nodiscard]] std::error_code offloaded(Fn&& fn) {
    try {
        detail::offload_run([](void* p) noexcept { (*static_cast<Fn*>(p))(); }, &fn);
    } catch (const std::system_error& e) {
        return e.code();
    }
    return {};
}

void close_now(int fd, std::error_code& ec) {
    int rc = 0;
    // On an io_uring worker an SQE, after what the hooked close does first.
    detail::fd_forget(fd);
    if (const long r = detail::ring_close(fd); r != detail::ring_not_taken) {
        ec = r == 0 ? std::error_code{} : errno_code(static_cast<int>(-r));
        return;
    }
    if (offloaded([&]() noexcept { rc = ::close(fd) == 0 ? 0 : errno; }))
        rc = ::close(fd) == 0 ? 0 : errno;  // no pool: a close seldom blocks, and the fd must go
    // EINTR: the descriptor is gone all the same on Linux.
    ec = rc == 0 || rc == EINTR ? std::error_code{} : errno_code(rc);
}
}  // namespace

file& file::operator=(file&& o) noexcept {
    if (this != &o) {
        file old(fd_.take());  // closes what this held
        fd_ = o.release();
    }
    return *this;
}

file::~file() {
    const int fd = fd_.take();
    if (fd < 0) return;
    try {
        std::error_code ec;
        close_now(fd, ec);
    } catch (...) {  // the pool could not take the job (out of memory): close here
        ::close(fd);
    }
}

file file::open(const std::string& path, int flags, mode_t mode, std::error_code& ec) {
    if (const long r = detail::ring_open(path.c_str(), flags, mode); r != detail::ring_not_taken) {
        if (r < 0) {
            ec = errno_code(static_cast<int>(-r));
            return file();
        }
        ec.clear();
        return file(static_cast<int>(r));
    }
    int fd = -1, err = 0;
    if ((ec = offloaded([&]() noexcept {
             do {
                 fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
             } while (fd < 0 && errno == EINTR);
             err = fd < 0 ? errno : 0;
         })))
        return file();
    ec = err ? errno_code(err) : std::error_code{};
    return file(fd);
}

file file::open(const std::string& path, int flags, mode_t mode) {
    std::error_code ec;
    file f = open(path, flags, mode, ec);
    if (ec) throw std::system_error(ec, "weft::fs::file::open(\"" + path + "\")");
    return f;
}

std::size_t file::read(void* data, std::size_t size, std::error_code& ec) {
    const int fd = fd_;
    if ((ec = check(fd, size, 0))) return 0;
    return file_call(file_op::read, fd, data, size, 0, ec);
}
std::size_t file::read(void* data, std::size_t size) {
    return detail::or_throw([&](std::error_code& ec) { return read(data, size, ec); }, "weft::fs::file::read");
}

std::size_t file::pread(void* data, std::size_t size, std::uint64_t offset, std::error_code& ec) {
    const int fd = fd_;
    if ((ec = check(fd, size, offset))) return 0;
    return file_call(file_op::pread, fd, data, size, offset, ec);
}
std::size_t file::pread(void* data, std::size_t size, std::uint64_t offset) {
    return detail::or_throw([&](std::error_code& ec) { return pread(data, size, offset, ec); },
                            "weft::fs::file::pread");
}

std::size_t file::write_all(const void* data, std::size_t size, std::error_code& ec) {
    const int fd = fd_;
    if ((ec = check(fd, size, 0))) return 0;
    return file_call(file_op::write_all, fd, const_cast<void*>(data), size, 0, ec);
}
std::size_t file::write_all(const void* data, std::size_t size) {
    return detail::or_throw([&](std::error_code& ec) { return write_all(data, size, ec); },
                            "weft::fs::file::write_all");
}

std::size_t file::pwrite_all(const void* data, std::size_t size, std::uint64_t offset, std::error_code& ec) {
    const int fd = fd_;
    if ((ec = check(fd, size, offset))) return 0;
    return file_call(file_op::pwrite_all, fd, const_cast<void*>(data), size, offset, ec);
}
std::size_t file::pwrite_all(const void* data, std::size_t size, std::uint64_t offset) {
    return detail::or_throw([&](std::error_code& ec) { return pwrite_all(data, size, offset, ec); },
                            "weft::fs::file::pwrite_all");
}

void file::sync(std::error_code& ec) {
    const int fd = fd_;
    if ((ec = check(fd, 0, 0))) return;
    file_call(file_op::fsync, fd, nullptr, 0, 0, ec);
}
void file::sync() {
    detail::or_throw([&](std::error_code& ec) { sync(ec); }, "weft::fs::file::sync");
}

std::uint64_t file::size(std::error_code& ec) {
    const int fd = fd_;
    if ((ec = check(fd, 0, 0))) return 0;
    if (const long r = detail::ring_file_size(fd); r != detail::ring_not_taken) {
        if (r < 0) {
            ec = errno_code(static_cast<int>(-r));
            return 0;
        }
        ec.clear();
        return static_cast<std::uint64_t>(r);
    }
    struct stat st;
    int err = 0;
    if ((ec = offloaded([&]() noexcept { err = ::fstat(fd, &st) == 0 ? 0 : errno; }))) return 0;
    if (err) {
        ec = errno_code(err);
        return 0;
    }
    ec.clear();
    return static_cast<std::uint64_t>(st.st_size);
}
std::uint64_t file::size() {
    return detail::or_throw([&](std::error_code& ec) { return size(ec); }, "weft::fs::file::size");
}

void file::close(std::error_code& ec) {
    const int fd = fd_.take();
    if (fd < 0) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return;
    }
    close_now(fd, ec);
}
void file::close() {
    detail::or_throw([&](std::error_code& ec) { close(ec); }, "weft::fs::file::close");
}

}  // namespace weft::fs

namespace weft::detail {

namespace {
// A write that reaches RLIMIT_FSIZE fails with EFBIG, and the kernel raises
// SIGXFSZ with it, whose default ends the process. Through io_uring it
// raises none and reports EFBIG only; the plain path reports the same, so a
// weft::fs write past the limit is an error code on every backend.
template <class Write>
ssize_t quiet_write(Write w) noexcept {
    return call_without_signal(SIGXFSZ, w, [](ssize_t r) { return r < 0 && errno == EFBIG; });
}
}  // namespace

// The syscalls themselves, where blocking is harmless (an offload thread).
void file_call_sync(file_call_args& a) noexcept {
    char* p = static_cast<char*>(a.data);
    for (;;) {
        ssize_t r = 0;
        switch (a.op) {
            case file_op::read: r = ::read(a.fd, p + a.done, a.size - a.done); break;
            case file_op::pread: r = ::pread(a.fd, p + a.done, a.size - a.done, static_cast<off_t>(a.offset + a.done)); break;
            case file_op::write_all:
                r = quiet_write([&] { return ::write(a.fd, p + a.done, a.size - a.done); });
                break;
            case file_op::pwrite_all:
                r = quiet_write(
                    [&] { return ::pwrite(a.fd, p + a.done, a.size - a.done, static_cast<off_t>(a.offset + a.done)); });
                break;
            case file_op::fsync: r = ::fsync(a.fd); break;
            case file_op::readv: r = ::readv(a.fd, static_cast<const iovec*>(a.data), static_cast<int>(a.size)); break;
            case file_op::writev:
                r = quiet_write([&] { return ::writev(a.fd, static_cast<const iovec*>(a.data), static_cast<int>(a.size)); });
                break;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            a.err = errno;
            return;
        }
        if (a.op == file_op::readv || a.op == file_op::writev) {
            a.done = static_cast<std::size_t>(r);
            return;
        }
        if (a.op == file_op::fsync || a.op == file_op::read || a.op == file_op::pread) {
            if (a.op != file_op::fsync) a.done = static_cast<std::size_t>(r);
            return;
        }
        a.done += static_cast<std::size_t>(r);
        if (a.done >= a.size) return;
        if (r == 0) {  // a write that takes nothing and says no error: do not spin
            a.err = EIO;
            return;
        }
    }
}

std::size_t file_call(file_op op, int fd, void* data, std::size_t size, std::uint64_t offset,
                      std::error_code& ec) {
    file_call_args a{op, fd, data, size, offset, 0, 0};
    if (!ring_file_call(a)) {
        try {
            offload_run([](void* p) noexcept { file_call_sync(*static_cast<file_call_args*>(p)); }, &a);
        } catch (const std::system_error& e) {  // the pool could not start its threads
            ec = e.code();
            return 0;
        }
    }
    ec = a.err ? std::error_code(a.err, std::generic_category()) : std::error_code{};
    return a.done;
}

}  // namespace weft::detail

#if !defined(WEFT_HAVE_URING)
namespace weft::detail {
bool ring_file_call(file_call_args&) { return false; }
long ring_open(const char*, int, unsigned) noexcept { return ring_not_taken; }
long ring_close(int) noexcept { return ring_not_taken; }
long ring_file_size(int) noexcept { return ring_not_taken; }
}  // namespace weft::detail
#endif
