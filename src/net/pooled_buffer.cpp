// The pool behind weft::net::pooled_buffer (see its header): a bounded cache
// of free buffers per thread, the heap behind it.
#include "weft/net/pooled_buffer.hpp"

#include <atomic>
#include <new>

#include "common/assert.hpp"
#include "context/annotate.hpp"
#include "net/pooled.hpp"
#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace weft::detail {
namespace {

// A free buffer's first bytes link it to the next free one of its cache.
struct free_block {
    free_block* next;
};

// Under ASan a cached buffer is poisoned (but for its link), so a lease's
// data used after the lease went back to the pool is reported as such.
void poison(std::byte* b) noexcept {
#ifdef WEFT_ASAN
    ASAN_POISON_MEMORY_REGION(b + sizeof(free_block), net::pooled_buffer::capacity - sizeof(free_block));
#else
    (void)b;
#endif
}
void unpoison(std::byte* b) noexcept {
#ifdef WEFT_ASAN
    ASAN_UNPOISON_MEMORY_REGION(b, net::pooled_buffer::capacity);
#else
    (void)b;
#endif
}

std::atomic<std::size_t> live_blocks{0};  // changed only on the heap path

std::byte* heap_block() noexcept {
    auto* b = static_cast<std::byte*>(::operator new(net::pooled_buffer::capacity, std::nothrow));
    if (b) live_blocks.fetch_add(1, std::memory_order_relaxed);
    return b;
}
void heap_free(std::byte* b) noexcept {
    unpoison(b);
    ::operator delete(b);
    live_blocks.fetch_sub(1, std::memory_order_relaxed);
}

struct thread_cache {
    free_block* head = nullptr;
    std::size_t count = 0;
    ~thread_cache();
};

// Set once the thread's cache is gone (thread exit): later give-backs on that
// thread (a lease in another thread_local's destructor) go to the heap. Plain
// bool, so it is still readable then.
thread_local bool cache_closed = false;
thread_local thread_cache cache;

thread_cache::~thread_cache() {
    cache_closed = true;
    while (head) {
        free_block* b = head;
        head = b->next;
        heap_free(reinterpret_cast<std::byte*>(b));
    }
    count = 0;
}

}  // namespace

// Out of line and never inlined: a fiber may (opt-in) move to another
// thread while it waits, so the thread's cache is looked up afresh each time,
// never through an address cached across a switch.
__attribute__((noinline)) std::byte* pooled_access::take_block() noexcept {
    if (!cache_closed) {
        thread_cache& c = cache;
        if (free_block* b = c.head) {
            c.head = b->next;
            --c.count;
            auto* p = reinterpret_cast<std::byte*>(b);
            unpoison(p);
            return p;
        }
    }
    return heap_block();
}

__attribute__((noinline)) void pooled_access::give_block(std::byte* p) noexcept {
    if (!cache_closed) {
        thread_cache& c = cache;
        if (c.count < net::pooled_buffer::cache_limit) {
            auto* b = reinterpret_cast<free_block*>(p);
            b->next = c.head;
            c.head = b;
            ++c.count;
            poison(p);
            return;
        }
    }
    heap_free(p);
}

}  // namespace weft::detail

namespace weft::net {

pooled_buffer pooled_buffer::take() {
    std::byte* b = detail::pooled_access::take_block();
    if (!b) throw std::bad_alloc();
    return detail::pooled_access::make(b, 0);
}

void pooled_buffer::set_size(std::size_t n) noexcept {
    WEFT_ASSERT(n <= capacity && (block_ || n == 0), "pooled_buffer::set_size beyond the buffer");
    size_ = n;
}

std::size_t pooled_buffer::allocated() noexcept {
    return detail::live_blocks.load(std::memory_order_relaxed);
}

void pooled_buffer::give_back(std::byte* block) noexcept {
    detail::pooled_access::give_block(block);
}

}  // namespace weft::net
