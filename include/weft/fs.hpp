// weft::fs: files in blocking style on fibers. A regular file is never
// "not ready" (epoll refuses it, and a read from a cold disk or an fsync
// simply blocks the thread), so each call runs where blocking is harmless:
// on the offload pool (weft/offload.hpp), or, on a worker whose reactor is
// io_uring, as an IORING_OP_READ/WRITE/FSYNC of the calling fiber completed
// by its worker's poll. Either way only the calling fiber waits; the other
// fibers of its worker keep running. Outside a fiber the call just runs.
//
// Every call comes in two forms, like the sockets: one that fills a
// std::error_code, one that throws std::system_error. File waits are not
// cancelable and take no deadline: the kernel call cannot be taken back.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include "weft/detail/fd_slot.hpp"

namespace weft::fs {

// An open file. Move-only; the destructor closes it (on the offload pool
// when called on a fiber: the last close of a file may flush it).
class file {
public:
    file() noexcept = default;
    explicit file(int fd) noexcept : fd_(fd) {}  // adopts fd (blocking mode is fine: nothing polls it)
    file(file&& o) noexcept : fd_(o.release()) {}
    file& operator=(file&& o) noexcept;
    file(const file&) = delete;
    file& operator=(const file&) = delete;
    ~file();

    // open(2) flags (O_RDONLY, O_WRONLY | O_CREAT | O_TRUNC, ...); O_CLOEXEC is added.
    static file open(const std::string& path, int flags, mode_t mode, std::error_code& ec);
    static file open(const std::string& path, int flags, std::error_code& ec) { return open(path, flags, 0644, ec); }
    static file open(const std::string& path, int flags, mode_t mode = 0644);

    // Reads up to size bytes at the file position; 0 at end of file.
    std::size_t read(void* data, std::size_t size, std::error_code& ec);
    std::size_t read(void* data, std::size_t size);
    // Reads up to size bytes at offset (the file position stays); 0 at end of file.
    std::size_t pread(void* data, std::size_t size, std::uint64_t offset, std::error_code& ec);
    std::size_t pread(void* data, std::size_t size, std::uint64_t offset);
    // Writes all of it, at the file position / at offset; on error the
    // return value says how much was written. Past RLIMIT_FSIZE: the bytes
    // up to the limit, and file_too_large (EFBIG); no SIGXFSZ is raised.
    std::size_t write_all(const void* data, std::size_t size, std::error_code& ec);
    std::size_t write_all(const void* data, std::size_t size);
    std::size_t pwrite_all(const void* data, std::size_t size, std::uint64_t offset, std::error_code& ec);
    std::size_t pwrite_all(const void* data, std::size_t size, std::uint64_t offset);
    // fsync(2): data and metadata on stable storage.
    void sync(std::error_code& ec);
    void sync();
    // The file's size now (fstat).
    std::uint64_t size(std::error_code& ec);
    std::uint64_t size();
    // Closes it; bad_file_descriptor if it was not open.
    void close(std::error_code& ec);
    void close();

    bool is_open() const noexcept { return fd_ >= 0; }
    int native_handle() const noexcept { return fd_; }
    int release() noexcept { return fd_.take(); }

private:
    detail::fd_slot fd_;
};

}  // namespace weft::fs
