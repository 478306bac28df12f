// deadline_scope: a deadline for every blocking call made inside a scope.
#pragma once

#include <chrono>
#include <cstdint>

namespace weft {

// While alive, every blocking call of this fiber (sleep, socket I/O) fails
// with std::errc::timed_out once the deadline passes. Nested scopes take the
// earliest deadline. Fatal outside a fiber.
//   weft::deadline_scope s{200ms};
class deadline_scope {
public:
    explicit deadline_scope(std::chrono::steady_clock::time_point until);
    template <class Rep, class Period>
    explicit deadline_scope(const std::chrono::duration<Rep, Period>& d)
        : deadline_scope(std::chrono::steady_clock::now() +
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(d)) {}
    ~deadline_scope();
    deadline_scope(const deadline_scope&) = delete;
    deadline_scope& operator=(const deadline_scope&) = delete;

private:
    std::int64_t saved_;
};

}  // namespace weft
