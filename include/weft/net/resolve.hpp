// weft::net::resolve: host name lookup without blocking the worker.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "weft/deadline.hpp"
#include "weft/net/address.hpp"

namespace weft::net {

// getaddrinfo on the offload pool (weft::offload): only the calling fiber
// waits. Returns every stream address for host and service ("localhost",
// "6379" or "redis"), IPv6 and IPv4 in the resolver's order. Errors come in
// resolve_category(): their message is getaddrinfo's (gai_strerror).
//
// The deadline, an enclosing deadline_scope and fiber_handle::cancel() end
// the wait with timed_out / operation_canceled (a deadline already passed, or
// a cancel already pending, fail the call before the lookup starts).
// getaddrinfo itself cannot be interrupted: a lookup the caller stopped
// waiting for finishes on the pool in the background, on a fiber of its own
// (so weft::run returns only once it has), and its result is dropped.
// Outside a fiber the lookup runs on the calling thread, without a deadline.
std::vector<address> resolve(std::string_view host, std::string_view service, std::error_code& ec,
                             deadline d = {});
std::vector<address> resolve(std::string_view host, std::string_view service, deadline d = {});

const std::error_category& resolve_category() noexcept;

}  // namespace weft::net
