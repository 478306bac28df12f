// Page allocation for the hooks' fd table; pages live until the process ends.
#include "hook/fd_table.hpp"

#include <new>

namespace weft::detail {

std::atomic<fd_state*> fd_table::pages_[fd_table::pages];

fd_state* fd_table::get(int fd) noexcept {
    if (fd < 0 || fd > max_fd) return nullptr;
    std::atomic<fd_state*>& slot = pages_[fd >> page_bits];
    fd_state* page = slot.load(std::memory_order_acquire);
    if (!page) {
        auto* fresh = new (std::nothrow) fd_state[1 << page_bits];
        if (!fresh) return nullptr;
        if (slot.compare_exchange_strong(page, fresh, std::memory_order_acq_rel)) {
            page = fresh;
        } else {
            delete[] fresh;  // another thread won; `page` now holds its page
        }
    }
    return &page[fd & ((1 << page_bits) - 1)];
}

}  // namespace weft::detail
