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

std::string exception_message(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
    }
    return "unknown exception";
}

}  // namespace weft::detail
