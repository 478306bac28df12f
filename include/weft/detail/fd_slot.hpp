// A socket object's descriptor. One atomic word, so that close() from
// another fiber or thread (which wakes every fiber blocked on the socket)
// does not race with the blocked calls that read it.
#pragma once

#include <atomic>

namespace weft::detail {

class fd_slot {
public:
    fd_slot() noexcept = default;
    explicit fd_slot(int fd) noexcept : fd_(fd) {}
    fd_slot(const fd_slot&) = delete;
    fd_slot& operator=(const fd_slot&) = delete;

    operator int() const noexcept { return fd_.load(std::memory_order_relaxed); }
    fd_slot& operator=(int fd) noexcept {
        fd_.store(fd, std::memory_order_relaxed);
        return *this;
    }
    // The descriptor, leaving -1: exactly one caller gets to close it.
    int take() noexcept { return fd_.exchange(-1, std::memory_order_acq_rel); }

private:
    std::atomic<int> fd_{-1};
};

}  // namespace weft::detail
