// Fiber dumps (weft::dump, SIGQUIT, the deadlock report) with frame-pointer
// backtraces of parked fibers, and the stack high-water mark.
#include "weft/debug.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include "context/frame_layout.hpp"
#include "sched/symbolize.hpp"
#include "sched/worker.hpp"

namespace weft::detail {

namespace {
// Where the switch leaves the frame pointer and the resume address of a
// parked fiber, relative to its saved sp: src/context/frame_layout.hpp.
constexpr std::size_t saved_fp_slot = saved_frame::fp_offset, saved_pc_slot = saved_frame::pc_offset;

bool inside(const stack& s, std::uintptr_t p) {
    const auto lo = reinterpret_cast<std::uintptr_t>(s.lo);
    return p >= lo && p + 16 <= lo + s.size;
}
}  // namespace

void backtrace_parked(const fiber* f, std::ostream& os) {
    // No layout described (Boost.Context off x86-64): no backtrace.
    if (!saved_frame::known || !f->sp || !f->started) return;
    const auto sp = reinterpret_cast<std::uintptr_t>(f->sp);
    if (!inside(f->stk, sp + saved_pc_slot)) return;
    std::uintptr_t fp = *reinterpret_cast<const std::uintptr_t*>(sp + saved_fp_slot);
    std::uintptr_t pc = *reinterpret_cast<const std::uintptr_t*>(sp + saved_pc_slot);
    constexpr std::size_t max_depth = 32;
    std::uintptr_t pcs[max_depth];
    std::size_t depth = 0;
    while (depth < max_depth && pc) {
        pcs[depth++] = pc;
        // Frames only go up the fiber's own stack; anything else ends the walk.
        if (!inside(f->stk, fp)) break;
        const std::uintptr_t next_fp = reinterpret_cast<const std::uintptr_t*>(fp)[0];
        pc = reinterpret_cast<const std::uintptr_t*>(fp)[1];
        if (next_fp <= fp) break;
        fp = next_fp;
    }
    std::string names[max_depth];
    symbolize(pcs, depth, names);
    for (std::size_t i = 0; i < depth; ++i) os << "      #" << i << ' ' << names[i] << '\n';
}

}  // namespace weft::detail

namespace weft {

void dump(std::ostream& os) {
    detail::worker* w = detail::worker::current();
    if (!w) {
        os << "weft: no weft worker on this thread\n";
        return;
    }
    if (detail::worker_group* g = w->group()) {
        for (detail::worker* other : g->workers) {
            os << "worker " << other->index() << (other == w ? " (this thread)" : " (snapshot)") << ": ";
            other->dump(os);
        }
    } else {
        w->dump(os);
    }
}

stack_usage_info stack_usage() noexcept {
    detail::worker* w = detail::worker::current();
    if (!w || !w->on_fiber()) return {};
    const detail::stack& s = w->running()->stk;
    const std::size_t page = detail::page_size();
    const std::size_t pages = s.size / page;
    std::vector<unsigned char> vec(pages);
    stack_usage_info info{s.size, 0};
    const auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    const std::size_t here_page = (here - reinterpret_cast<std::uintptr_t>(s.lo)) / page;
    // The page this frame is on is resident by definition; where mincore
    // says otherwise (qemu-user), look for the lowest written word instead.
    if (::mincore(s.lo, s.size, vec.data()) == 0 && here_page < pages && (vec[here_page] & 1)) {
        // The stack grows down from the top: the lowest resident page marks the deepest use.
        for (std::size_t i = 0; i < pages; ++i)
            if (vec[i] & 1) {
                info.touched = s.size - i * page;
                break;
            }
        return info;
    }
    const auto* words = reinterpret_cast<const volatile std::uintptr_t*>(s.lo);
    for (std::size_t i = 0; i < s.size / sizeof(std::uintptr_t); ++i)
        if (words[i] != 0) {
            info.touched = s.size - (i * sizeof(std::uintptr_t)) / page * page;
            break;
        }
    return info;
}

}  // namespace weft
