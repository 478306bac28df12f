// weft::net::pooled_buffer: a lease on one fixed-size buffer of a per-thread
// pool, as read_pooled() (tcp_stream, unix_stream) hands out the data it read.
// A connection that waits in read_pooled() holds no buffer: one is taken only
// once data has arrived, and goes back when the lease is destroyed.
//
// The pool: each thread (a worker, or a plain thread) keeps a small cache of
// free buffers, at most cache_limit of them; a buffer comes from the cache
// of the thread that takes it (or from the heap), and goes back to the cache
// of the thread that destroys its lease (or to the heap, when that cache is
// full or its thread is exiting). A buffer belongs to no thread, so a lease
// may be moved to and destroyed on any worker or plain thread without a lock
// or a hand-back queue: flows between threads only shift which caches hold
// the free buffers, and the bound keeps every cache small. An io_uring
// worker also lends buffers of the pool to the kernel (its provided-buffer
// ring: 16, doubled up to 256 when receives completing together need more),
// which picks one only for a receive whose data has arrived. So
// 100,000 idle connections hold no buffers at all, and a busy worker reuses
// the same few.
//
// The size: 16 KiB, the largest TLS record and a usual read chunk of a busy
// stream, so a read of a bulk transfer moves as much per syscall as read()
// with a 16 KiB buffer. What it costs is held only while data is in hand,
// not per connection.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace weft::detail {
struct pooled_access;  // src/net/pooled_buffer.cpp: the stream calls' way in
}

namespace weft::net {

class pooled_buffer {
public:
    static constexpr std::size_t capacity = 16 * 1024;  // bytes of every buffer of the pool
    static constexpr std::size_t cache_limit = 16;      // free buffers a thread keeps

    // An empty lease: holds no buffer, size() 0.
    pooled_buffer() noexcept = default;
    pooled_buffer(pooled_buffer&& o) noexcept : block_(o.block_), size_(o.size_) {
        o.block_ = nullptr;
        o.size_ = 0;
    }
    pooled_buffer& operator=(pooled_buffer&& o) noexcept {
        if (this != &o) {
            reset();
            block_ = o.block_;
            size_ = o.size_;
            o.block_ = nullptr;
            o.size_ = 0;
        }
        return *this;
    }
    pooled_buffer(const pooled_buffer&) = delete;
    pooled_buffer& operator=(const pooled_buffer&) = delete;
    ~pooled_buffer() { reset(); }

    // The bytes read: size() of them from data(); capacity() are writable.
    std::byte* data() noexcept { return block_; }
    const std::byte* data() const noexcept { return block_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::span<std::byte> span() noexcept { return {block_, size_}; }
    std::span<const std::byte> span() const noexcept { return {block_, size_}; }
    std::string_view view() const noexcept { return {reinterpret_cast<const char*>(block_), size_}; }
    // Whether the lease holds a buffer (an empty lease from EOF holds none).
    explicit operator bool() const noexcept { return block_ != nullptr; }

    // Returns the buffer to the pool now (to this thread's cache); the lease is empty after.
    void reset() noexcept {
        if (block_) give_back(block_);
        block_ = nullptr;
        size_ = 0;
    }

    // A lease on a fresh buffer of the pool, size() 0; set_size() says how
    // much of it holds data. For code that fills a buffer itself. Throws
    // std::bad_alloc.
    static pooled_buffer take();
    // n <= capacity (checked: larger is a fatal error).
    void set_size(std::size_t n) noexcept;

    // Buffers of the pool that exist now, in every thread: leased ones and
    // free ones in caches. For tests and memory reports.
    static std::size_t allocated() noexcept;

private:
    friend struct detail::pooled_access;
    static void give_back(std::byte* block) noexcept;

    std::byte* block_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace weft::net
