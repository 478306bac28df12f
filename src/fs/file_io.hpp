// The file calls of weft::fs, as one argument block that either the offload
// pool (file_call_sync, plain syscalls) or the worker's io_uring carries out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

namespace weft::detail {

enum class file_op : std::uint8_t { read, pread, write_all, pwrite_all, fsync };

struct file_call_args {
    file_op op;
    int fd;
    void* data;
    std::size_t size;
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

// Either way: returns the bytes moved, ec the failure.
std::size_t file_call(file_op op, int fd, void* data, std::size_t size, std::uint64_t offset,
                      std::error_code& ec);

}  // namespace weft::detail
