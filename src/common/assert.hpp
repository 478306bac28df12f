// Loud failure for broken invariants and API misuse: a message on stderr, then abort.
#pragma once

#include <exception>
#include <string>

namespace weft::detail {

[[noreturn]] void fatal(const char* fmt, ...) noexcept __attribute__((format(printf, 1, 2)));

// what() of the exception e holds, or "unknown exception", for last words.
std::string exception_message(const std::exception_ptr& e);

}  // namespace weft::detail

// Always on: these guard memory safety, not style.
#define WEFT_ASSERT(cond, msg)                                                              \
    do {                                                                                    \
        if (__builtin_expect(!(cond), 0))                                                   \
            ::weft::detail::fatal("weft: internal error: %s (%s) at %s:%d", msg, #cond,     \
                                  __FILE__, __LINE__);                                      \
    } while (0)
