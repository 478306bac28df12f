// weft::net: sockets in blocking style on fibers.
#pragma once

#include "weft/net/address.hpp"
#include "weft/net/error.hpp"
#include "weft/net/pooled_buffer.hpp"
#include "weft/net/resolve.hpp"
#include "weft/net/stream.hpp"
#include "weft/net/tcp.hpp"
#include "weft/net/udp.hpp"
#include "weft/net/unix.hpp"
#ifdef WEFT_HAVE_TLS  // libweft was built with OpenSSL (CMake option WEFT_TLS)
#include "weft/net/tls.hpp"
#endif
