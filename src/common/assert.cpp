// fatal(): the one place weft prints a last word and aborts.
#include "common/assert.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace weft::detail {

void fatal(const char* fmt, ...) noexcept {
    std::va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
    std::fflush(stderr);
    std::abort();
}

}  // namespace weft::detail
