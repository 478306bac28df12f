// What tls_context.cpp and tls_stream.cpp share: OpenSSL's error queue read
// into a message, and the reason of the fiber's last failed TLS call.
#pragma once

#include <string>
#include <system_error>

namespace weft::detail::tls {

// Every error queued on this thread, oldest first, joined by "; ", and the
// queue emptied. Call it before the fiber can switch: the queue is per thread.
std::string drain_errors();

// Keeps why for tls_last_error() when the call failed and why says something.
void remember(const std::error_code& ec, const std::string& why);

// The throwing forms: what(), then OpenSSL's reason if there is one.
[[noreturn]] void throw_tls(const std::error_code& ec, const std::string& what, const std::string& why);

}  // namespace weft::detail::tls
