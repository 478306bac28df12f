// Names for code addresses in fiber dumps: libdw's libdwfl when weft was
// configured with it (WEFT_HAVE_LIBDW), dladdr otherwise and as a fallback.
#include "sched/symbolize.hpp"

#include <dlfcn.h>

#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

#if WEFT_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "platform/os_lock.hpp"
#endif

namespace weft::detail {

namespace {

std::string demangle(const char* name) {
    int status = 0;
    char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    std::string s = status == 0 && demangled ? demangled : name;
    std::free(demangled);
    if (s.size() > 160) s = s.substr(0, 157) + "...";
    return s;
}

#if WEFT_HAVE_LIBDW
// One libdwfl session for the process, reporting the modules mapped in
// /proc/self/maps; reported afresh when an address is in none of them (a
// library loaded since).
class dwfl_session {
public:
    dwfl_session() = default;
    dwfl_session(const dwfl_session&) = delete;
    dwfl_session& operator=(const dwfl_session&) = delete;
    ~dwfl_session();
    // Function name (demangled) and "file:line" of addr, either empty when unknown.
    bool lookup(std::uintptr_t addr, std::string& function, std::string& where) {
        Dwfl_Module* m = find_module(addr);
        if (!m) return false;
        if (const char* name = dwfl_module_addrname(m, addr)) function = demangle(name);
        int line = 0;
        if (Dwfl_Line* l = dwfl_module_getsrc(m, addr)) {
            if (const char* file = dwfl_lineinfo(l, nullptr, &line, nullptr, nullptr, nullptr)) {
                const char* base = std::strrchr(file, '/');
                std::ostringstream os;
                os << (base ? base + 1 : file) << ':' << line;
                where = os.str();
            }
        }
        return !function.empty();
    }

private:
    Dwfl_Module* find_module(std::uintptr_t addr) {
        if (!dwfl_ && !report()) return nullptr;
        if (Dwfl_Module* m = dwfl_addrmodule(dwfl_, addr)) return m;
        if (!report()) return nullptr;
        return dwfl_addrmodule(dwfl_, addr);
    }
    bool report() {
        if (!dwfl_) dwfl_ = dwfl_begin(&callbacks_);
        if (!dwfl_) return false;
        dwfl_report_begin(dwfl_);
        const int rc = dwfl_linux_proc_report(dwfl_, ::getpid());
        return dwfl_report_end(dwfl_, nullptr, nullptr) == 0 && rc == 0;
    }

    char* debuginfo_path_ = nullptr;  // the default: /usr/lib/debug and .debug beside the file
    const Dwfl_Callbacks callbacks_{dwfl_linux_proc_find_elf, dwfl_standard_find_debuginfo, nullptr,
                                    &debuginfo_path_};
    Dwfl* dwfl_ = nullptr;
};

// Taken with try_lock: a dump interrupted by SIGQUIT on the same thread, or
// two threads dumping at once, must not wait; the one that cannot lock uses dladdr.
os_mutex dwfl_mu;

// The session, made on first use and ended with the process's static objects
// (so that leak checkers see libdw's memory freed); a dump after that, during
// exit, names functions through dladdr.
struct session_holder {
    dwfl_session* session = nullptr;
    bool ended = false;
    ~session_holder() {
        std::lock_guard<os_mutex> lock(dwfl_mu);
        delete session;
        session = nullptr;
        ended = true;
    }
} holder;

dwfl_session::~dwfl_session() {
    if (dwfl_) dwfl_end(dwfl_);
}

// Names what it can of pcs into function/where, on the calling thread.
void libdw_lookup_all(const std::uintptr_t* pcs, std::size_t n, std::string* function, std::string* where) {
    std::unique_lock<os_mutex> lock(dwfl_mu, std::try_to_lock);
    if (!lock.owns_lock() || holder.ended) return;
    if (!holder.session) holder.session = new dwfl_session;
    for (std::size_t i = 0; i < n; ++i) holder.session->lookup(pcs[i] - 1, function[i], where[i]);
}
#endif

std::string with_dladdr(std::uintptr_t pc) {
    std::ostringstream os;
    os << "0x" << std::hex << pc << std::dec;
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void*>(pc - 1), &info) && info.dli_sname) {
        os << " in " << demangle(info.dli_sname);
    } else if (info.dli_fname) {
        os << " in " << info.dli_fname;
    }
    return os.str();
}

}  // namespace

void symbolize(const std::uintptr_t* pcs, std::size_t n, std::string* out) {
    if (n == 0) return;
#if WEFT_HAVE_LIBDW
    std::vector<std::string> function(n), where(n);
    try {
        std::thread helper(libdw_lookup_all, pcs, n, function.data(), where.data());
        helper.join();
    } catch (const std::system_error&) {  // no thread: dladdr names what it can
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (function[i].empty()) {
            out[i] = with_dladdr(pcs[i]);
            continue;
        }
        std::ostringstream os;
        os << "0x" << std::hex << pcs[i] << std::dec << " in " << function[i];
        if (!where[i].empty()) os << " at " << where[i];
        out[i] = os.str();
    }
#else
    for (std::size_t i = 0; i < n; ++i) out[i] = with_dladdr(pcs[i]);
#endif
}

}  // namespace weft::detail
