// weft::barrier: N parties meet; each arrive_and_wait() parks the fiber (or
// blocks a plain thread) until all N have arrived. Reusable across phases.
// Works between fibers on any worker and plain threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "weft/detail/wait_queue.hpp"

namespace weft {

// arrive_and_wait() cannot fail: it ignores cancellation and deadline scopes,
// like mutex::lock(). Exactly one arriver per phase (the last) gets true.
class barrier {
public:
    explicit barrier(std::size_t parties);  // fatal when 0
    barrier(const barrier&) = delete;
    barrier& operator=(const barrier&) = delete;

    // True for the one "serial" arriver of this phase, false for the others.
    bool arrive_and_wait();

    std::size_t parties() const noexcept { return parties_; }

private:
    const std::size_t parties_;
    std::size_t arrived_ = 0;  // in the current phase; guarded by guard_
    detail::spinlock guard_;
    detail::wait_list waiters_;
};

}  // namespace weft
