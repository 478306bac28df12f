// The file calls of weft::fs, as one argument block that either the offload
// pool (file_call_sync, plain syscalls) or the worker's io_uring carries out.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace weft::detail {

// read / write_all / readv / writev work at the file position; readv and
// writev are one call each (data: the iovec array, size: its count), as the
// hooked readv/writev of a regular file or tty need.
enum class file_op : std::uint8_t { read, pread, write_all, pwrite_all, fsync, readv, writev };

struct file_call_args {
    file_op op;
    int fd;
    void* data;
    std::size_t size;      // bytes; readv / writev: the iovec count
    std::uint64_t offset;  // pread / pwrite_all
    std::size_t done;      // bytes moved so far
    int err;               // errno of the failure, 0: none
};

// Runs the call with plain blocking syscalls (EINTR retried; write_all and
// pwrite_all loop until all of it is written).
void file_call_sync(file_call_args& a) noexcept;

// Runs the call as SQEs of the calling fiber's worker's io_uring and parks
// the fiber until they complete. False (nothing done) when the caller is not
// a fiber on an io_uring worker: the caller offloads it then.
bool ring_file_call(file_call_args& a);

// open(2) (O_CLOEXEC added), close(2), and the size of fd, each as one SQE
// of the calling fiber's worker's io_uring (IORING_OP_OPENAT, CLOSE,
// STATX): the fd, 0 or the size, or -errno; ring_not_taken (nothing done)
// when the caller is not a fiber on an io_uring worker or the ring cannot
// do it (a kernel without the opcode, EINVAL): the caller offloads it then.
constexpr long ring_not_taken = LONG_MIN;
long ring_open(const char* path, int flags, unsigned mode) noexcept;
long ring_close(int fd) noexcept;
long ring_file_size(int fd) noexcept;

// Either way: returns the bytes moved, ec the failure.
std::size_t file_call(file_op op, int fd, void* data, std::size_t size, std::uint64_t offset,
                      std::error_code& ec);

}  // namespace weft::detail
