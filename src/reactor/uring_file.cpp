// weft::fs's file calls (and the hooks' calls on regular files and ttys)
// on a fiber of an io_uring worker: SQEs of uring_reactor::file_op, in
// pieces an SQE can carry (see fs/file_io.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "fs/file_io.hpp"
#include "reactor/uring_reactor.hpp"
#include "sched/wait.hpp"

namespace weft::detail {

uring_reactor* fiber_uring() noexcept {
    if (!current_fiber_worker()) return nullptr;
    try {
        return fiber_reactor()->as_uring();
    } catch (const std::system_error&) {
        return nullptr;
    }
}

namespace {
// What the ring cannot do (no room; a kernel without the opcode, a file
// without read_iter such as a directory): the plain call, offloaded, says
// what it is.
bool ring_cannot(int res) noexcept { return res == uring_reactor::no_sqe || res == -EINVAL || res == -EOPNOTSUPP; }
long meta_result(int res) noexcept { return ring_cannot(res) ? ring_not_taken : res; }
// A write through the ring at the file position (offset -1) that comes back
// short (RLIMIT_FSIZE, a full disk) leaves the file position where it was
// (seen on Linux 6.18: two 8 KiB writes with a 12 KiB limit return 8192
// and 4096, and the position stays at 8192), so the next write would write
// over those bytes. The position before the write (`before`; -1: the file
// has none, a tty) puts it where the bytes end, unless the file appends
// (each write goes to its end anyway). Raw syscalls: no hook in between.
void settle_position_after_short_write(int fd, long before, int wrote) noexcept {
    if (before < 0) return;
    const long fl = ::syscall(SYS_fcntl, fd, F_GETFL, 0);
    if (fl >= 0 && !(fl & O_APPEND)) ::syscall(SYS_lseek, fd, before + wrote, SEEK_SET);
}
}  // namespace

// weft::fs's calls on a fiber of an io_uring worker (see fs/file_io.hpp).
bool ring_file_call(file_call_args& a) {
    uring_reactor* ur = fiber_uring();
    if (!ur) return false;
    constexpr std::size_t max_op = 1u << 30;  // an SQE's length is 32 bits
    char* p = static_cast<char*>(a.data);
    for (;;) {
        const std::size_t left = a.size - a.done;
        const auto n = static_cast<unsigned>(left < max_op ? left : max_op);
        const bool at_pos = a.op == file_op::read || a.op == file_op::write_all || a.op == file_op::readv ||
                            a.op == file_op::writev;
        const std::uint64_t off = at_pos ? static_cast<std::uint64_t>(-1) : a.offset + a.done;
        const bool write_at_pos = a.op == file_op::write_all || a.op == file_op::writev;
        const long before = write_at_pos ? ::syscall(SYS_lseek, a.fd, 0L, SEEK_CUR) : -1;
        std::size_t asked = n;
        if (a.op == file_op::writev) {
            asked = 0;
            const auto* v = static_cast<const iovec*>(a.data);
            for (std::size_t i = 0; i < a.size && i < IOV_MAX; ++i) asked += v[i].iov_len;
        }
        int res;
        switch (a.op) {
            case file_op::read:
            case file_op::pread: res = ur->file_op(uring_reactor::file_opcode::read, a.fd, p + a.done, n, off); break;
            case file_op::write_all:
            case file_op::pwrite_all:
                res = ur->file_op(uring_reactor::file_opcode::write, a.fd, p + a.done, n, off);
                break;
            case file_op::readv:
            case file_op::writev: {
                // One call, the iovec count in `size` (the kernel checks it: EINVAL).
                if (a.size > UINT_MAX) return false;
                const auto vop = a.op == file_op::readv ? uring_reactor::file_opcode::readv
                                                        : uring_reactor::file_opcode::writev;
                res = ur->file_op(vop, a.fd, a.data, static_cast<unsigned>(a.size), off);
                break;
            }
            default: res = ur->file_op(uring_reactor::file_opcode::fsync, a.fd, nullptr, 0, 0); break;
        }
        if (res == -EINTR) continue;
        if (ring_cannot(res) && a.done == 0) return false;
        if (res == uring_reactor::no_sqe) res = -EAGAIN;
        if (write_at_pos && res >= 0 && static_cast<std::size_t>(res) < asked)
            settle_position_after_short_write(a.fd, before, res);
        if (res < 0) {
            a.err = -res;
            return true;
        }
        if (a.op == file_op::fsync) return true;
        if (a.op == file_op::read || a.op == file_op::pread || a.op == file_op::readv || a.op == file_op::writev) {
            a.done += static_cast<std::size_t>(res);
            return true;
        }
        a.done += static_cast<std::size_t>(res);
        if (a.done >= a.size) return true;
        if (res == 0) {
            a.err = EIO;
            return true;
        }
    }
}

long ring_open(const char* path, int flags, unsigned mode) noexcept {
    uring_reactor* ur = fiber_uring();
    if (!ur) return ring_not_taken;
    for (;;) {
        const int res = ur->file_op(uring_reactor::file_opcode::openat, -1, const_cast<char*>(path),
                                    static_cast<unsigned>(flags | O_CLOEXEC), mode);
        if (res != -EINTR) return meta_result(res);
    }
}

long ring_close(int fd) noexcept {
    uring_reactor* ur = fiber_uring();
    if (!ur) return ring_not_taken;
    // EINTR: the descriptor is gone all the same (Linux), as for close(2).
    const int res = ur->file_op(uring_reactor::file_opcode::close, fd, nullptr, 0, 0);
    return res == -EINTR ? 0 : meta_result(res);
}

long ring_file_size(int fd) noexcept {
    uring_reactor* ur = fiber_uring();
    if (!ur) return ring_not_taken;
    struct statx st {};
    for (;;) {
        const int res = ur->file_op(uring_reactor::file_opcode::statx, fd, &st, 0, 0);
        if (res == -EINTR) continue;
        if (res < 0) return meta_result(res);
        if (!(st.stx_mask & STATX_SIZE)) return ring_not_taken;
        return static_cast<long>(st.stx_size);
    }
}

}  // namespace weft::detail
