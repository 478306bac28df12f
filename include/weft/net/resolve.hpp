// weft::net::resolve: host name lookup without blocking the worker.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "weft/net/address.hpp"

namespace weft::net {

// getaddrinfo on the offload pool (weft::offload): only the calling fiber
// waits. Returns every stream address for host and service ("localhost",
// "6379" or "redis"), IPv6 and IPv4 in the resolver's order. Errors come in
// resolve_category(): their message is getaddrinfo's (gai_strerror).
std::vector<address> resolve(std::string_view host, std::string_view service, std::error_code& ec);
std::vector<address> resolve(std::string_view host, std::string_view service);

const std::error_category& resolve_category() noexcept;

}  // namespace weft::net
