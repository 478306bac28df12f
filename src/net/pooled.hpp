// The pool's inside, for the stream calls that read into it (stream_io.cpp).
#pragma once

#include <cstddef>

#include "weft/net/pooled_buffer.hpp"

namespace weft::detail {

struct pooled_access {
    // A free buffer of the calling thread's cache, else a new one from the
    // heap; nullptr when the heap has none.
    static std::byte* take_block() noexcept;
    // To the calling thread's cache, or the heap when it is full or closed.
    static void give_block(std::byte* b) noexcept;
    static net::pooled_buffer make(std::byte* b, std::size_t n) noexcept {
        net::pooled_buffer p;
        p.block_ = b;
        p.size_ = n;
        return p;
    }
};

}  // namespace weft::detail
