// Hooked name lookups: getaddrinfo and gethostbyname run on weft's offload
// pool, so a fiber resolving a name parks instead of stopping its worker.
#include <dlfcn.h>
#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include "hook/wait.hpp"
#include "weft/fiber_local.hpp"
#include "weft/offload.hpp"

namespace weft::detail::hook {
namespace {

using getaddrinfo_fn = int (*)(const char*, const char*, const addrinfo*, addrinfo**);

// libc's getaddrinfo is no system call: find the next definition after ours.
// In a fully static program ours is never linked in (see below), so this
// lookup only ever runs in dynamically linked ones.
getaddrinfo_fn real_getaddrinfo() noexcept {
    static const getaddrinfo_fn fn = reinterpret_cast<getaddrinfo_fn>(::dlsym(RTLD_NEXT, "getaddrinfo"));
    return fn;
}

// gethostbyname's static result, one per fiber (and per plain thread), so
// fibers resolving at the same time do not overwrite each other's answer.
struct hostent_buffer {
    hostent result{};
    std::vector<char> data = std::vector<char>(1024);
};

hostent* lookup_host(const char* name, hostent_buffer& b, int& herr) noexcept {
    for (;;) {
        hostent* out = nullptr;
        const int rc = ::gethostbyname_r(name, &b.result, b.data.data(), b.data.size(), &out, &herr);
        if (rc == ERANGE && b.data.size() < (1u << 20)) {
            try {
                b.data.resize(b.data.size() * 2);
            } catch (...) {
                herr = NETDB_INTERNAL;
                errno = ENOMEM;
                return nullptr;
            }
            continue;
        }
        return rc == 0 ? out : nullptr;
    }
}

}  // namespace
}  // namespace weft::detail::hook

using namespace weft::detail;
using namespace weft::detail::hook;

// Referencing freeaddrinfo makes a fully static link take glibc's
// getaddrinfo object, whose strong getaddrinfo then wins over the weak one
// below: static programs resolve on the calling thread, dynamic ones here.
[[gnu::used]] static void (*const weft_keep_freeaddrinfo)(addrinfo*) = &::freeaddrinfo;

extern "C" {

__attribute__((weak)) int getaddrinfo(const char* __restrict node, const char* __restrict service,
                                      const addrinfo* __restrict hints, addrinfo** __restrict res) {
    const getaddrinfo_fn real = real_getaddrinfo();
    if (!real) return EAI_SYSTEM;
    if (!fiber_worker()) return real(node, service, hints, res);
    int saved_errno = 0;
    int rc;
    try {
        rc = weft::offload([&] {
            const int r = real(node, service, hints, res);
            saved_errno = errno;  // EAI_SYSTEM reports through errno, on the pool's thread
            return r;
        });
    } catch (const std::system_error&) {
        return EAI_AGAIN;  // the offload pool could not start: a temporary failure
    }
    if (rc == EAI_SYSTEM) errno = saved_errno;
    return rc;
}

__attribute__((weak)) hostent* gethostbyname(const char* name) {
    static weft::fiber_local<hostent_buffer> buffer;
    hostent_buffer& b = buffer.get();
    int herr = 0;
    hostent* out = nullptr;
    if (!fiber_worker()) {
        out = lookup_host(name, b, herr);
    } else {
        try {
            out = weft::offload([&] { return lookup_host(name, b, herr); });
        } catch (const std::system_error&) {
            herr = TRY_AGAIN;  // the offload pool could not start
        }
    }
    if (!out) h_errno = herr;
    return out;
}

}  // extern "C"
