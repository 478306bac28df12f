// Errors of weft::net that the standard has no code for.
#pragma once

#include <system_error>
#include <type_traits>

namespace weft::net {

enum class net_errc {
    eof = 1,  // the peer closed the connection before the requested bytes arrived
};

const std::error_category& net_category() noexcept;

inline std::error_code make_error_code(net_errc e) noexcept {
    return {static_cast<int>(e), net_category()};
}

}  // namespace weft::net

template <>
struct std::is_error_code_enum<weft::net::net_errc> : std::true_type {};
