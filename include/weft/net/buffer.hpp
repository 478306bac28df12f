// Scatter/gather buffers for readv/writev: a pointer and a size, laid out
// like the platform's iovec.
#pragma once

#include <cstddef>

namespace weft::net {

struct mutable_buffer {
    void* data;
    std::size_t size;
};

struct const_buffer {
    const void* data;
    std::size_t size;
};

}  // namespace weft::net
