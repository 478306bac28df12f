// Fiber stacks: carved from large mmap slabs, guarded, lazily committed, pooled per worker.
#pragma once

#include <atomic>
#include <cstddef>
#include <vector>

namespace weft::detail {

class stack_pool;

// A usable stack range [lo, lo + size); the guard lies just below lo. `home`
// is the pool it came from, where it goes back when freed on another worker.
struct stack {
    char* lo = nullptr;
    std::size_t size = 0;
    stack_pool* home = nullptr;
    char* top() const noexcept { return lo + size; }
};

enum class guard_kind {
    madvise_guard,  // MADV_GUARD_INSTALL (Linux >= 6.13): no VMA split, so slabs stay one mapping
    mprotect,       // PROT_NONE page: splits the mapping, two VMAs per stack
};

// Probed once per process: does this kernel accept MADV_GUARD_INSTALL?
guard_kind probe_guard_kind() noexcept;
const char* guard_kind_name(guard_kind) noexcept;

std::size_t page_size() noexcept;

class stack_pool {
public:
    // Idle stacks of one size beyond `high_water` give their memory back to
    // the kernel when trim() runs (the worker calls it when it goes idle).
    explicit stack_pool(std::size_t high_water = 256, guard_kind kind = probe_guard_kind());
    ~stack_pool();
    stack_pool(const stack_pool&) = delete;
    stack_pool& operator=(const stack_pool&) = delete;

    // Throws std::system_error (ENOMEM or the mmap errno) when no memory can be mapped.
    stack acquire(std::size_t size);
    // No syscall: stays resident until trim(). A stack of another pool (a
    // fiber freed on another worker, or spawned from outside the runtime)
    // goes home, in batches: see send_home().
    void release(const stack& s) noexcept;
    // Sends the stacks of other pools collected by release() to their pools
    // now (the worker calls it when it goes idle). The home pools must still
    // exist: the pools of one runtime live until it ends.
    void send_home() noexcept;
    // Returns the memory of idle stacks beyond the high-water mark, the least
    // recently used first, one madvise per run of adjacent stacks: each call
    // is a TLB flush, too costly per fiber on the release path.
    void trim() noexcept;

    // Usable size actually given for a request: page-rounded, at least min_stack_size.
    static std::size_t rounded_size(std::size_t request) noexcept;
    static constexpr std::size_t min_stack_size = 16 * 1024;
    static constexpr std::size_t max_stack_size = std::size_t{1} << 36;  // 64 GiB

    std::size_t guard_size() const noexcept { return guard_; }
    guard_kind guard() const noexcept { return kind_; }
    std::size_t slab_count() const noexcept { return slabs_.size(); }
    std::size_t idle_stacks(std::size_t size) const noexcept;
    std::size_t resident_idle_stacks(std::size_t size) const noexcept;

private:
    // A stack on its way home: written into the freed stack's top bytes
    // (where its fiber's control block was, so the page is resident).
    struct returned {
        returned* next;
        std::size_t size;
    };
    static returned* as_returned(const stack& s) noexcept {
        return reinterpret_cast<returned*>(s.top() - sizeof(returned));
    }
    void take_returned() noexcept;  // home side: every stack sent back so far
    static constexpr std::size_t send_batch = 32;

    struct size_class {
        std::size_t size;
        std::vector<char*> hot;   // released recently, pages likely resident
        std::vector<char*> cold;  // never touched or already given back
        std::size_t next_slab = 16;
    };
    size_class& class_for(std::size_t size);
    const size_class* find_class(std::size_t size) const noexcept;
    void grow(size_class& c);

    std::size_t high_water_;
    std::size_t guard_;
    guard_kind kind_;
    std::vector<size_class> classes_;
    // Most programs spawn with one size: remember the last request's class.
    std::size_t last_request_ = 0;
    std::size_t last_class_ = 0;
    struct slab {
        void* base;
        std::size_t bytes;
    };
    std::vector<slab> slabs_;
    std::atomic<returned*> returned_{nullptr};  // pushed by other threads, taken by the owner
    // Collected by release() for one other pool, sent as one chain.
    stack_pool* out_home_ = nullptr;
    returned* out_head_ = nullptr;
    returned* out_tail_ = nullptr;
    std::size_t out_count_ = 0;
};

}  // namespace weft::detail
