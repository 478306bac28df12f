// How many CPUs the process may use: its affinity mask and its cgroup CPU
// quota (see process.hpp). A container limited to 2 CPUs on a 64-core host
// gets 2 workers by default, not 64 that the quota would throttle.
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

#include "platform/process.hpp"

namespace weft::detail {

namespace {

// Small kernel files (cpu.max, /proc/self/cgroup): whole, or false.
bool read_file(const std::string& path, std::string& out) {
    std::FILE* f = std::fopen(path.c_str(), "re");
    if (!f) return false;
    out.clear();
    char buf[512];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        out.append(buf, n);
        if (out.size() > (1u << 20)) break;  // not a cgroup file; what was read is enough
    }
    const bool ok = !std::ferror(f);
    std::fclose(f);
    return ok;
}

void skip_blanks(std::string_view& s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
}

// A decimal at the front of s, consumed; false if there is none or it overflows.
bool take_number(std::string_view& s, std::uint64_t& v) noexcept {
    if (s.empty() || s.front() < '0' || s.front() > '9') return false;
    v = 0;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
        const unsigned d = static_cast<unsigned>(s.front() - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
        s.remove_prefix(1);
    }
    return true;
}

// quota/period CPUs, rounded up: 1.5 CPUs of time lets 2 threads run at once.
unsigned quota_cpus(std::uint64_t quota, std::uint64_t period) noexcept {
    if (period == 0) return 0;
    std::uint64_t cpus = quota / period + (quota % period != 0);
    if (cpus == 0) cpus = 1;
    return cpus > UINT_MAX ? UINT_MAX : static_cast<unsigned>(cpus);
}

// cgroup v2: "max 100000" (none) or "200000 100000".
unsigned read_cpu_max(const std::string& dir) {
    std::string text;
    if (!read_file(dir + "/cpu.max", text)) return 0;
    std::string_view s = text;
    skip_blanks(s);
    std::uint64_t quota = 0, period = 100'000;  // the kernel's default period
    if (!take_number(s, quota)) return 0;       // "max", or nothing we understand
    skip_blanks(s);
    std::uint64_t p;
    if (take_number(s, p)) period = p;
    return quota_cpus(quota, period);
}

// cgroup v1: cpu.cfs_quota_us is -1 without a limit.
unsigned read_cfs_quota(const std::string& dir) {
    std::string text;
    if (!read_file(dir + "/cpu.cfs_quota_us", text)) return 0;
    std::string_view s = text;
    skip_blanks(s);
    std::uint64_t quota, period;
    if (!take_number(s, quota)) return 0;  // "-1"
    if (!read_file(dir + "/cpu.cfs_period_us", text)) return 0;
    s = text;
    skip_blanks(s);
    if (!take_number(s, period)) return 0;
    return quota_cpus(quota, period);
}

unsigned tighter(unsigned a, unsigned b) noexcept { return a == 0 ? b : (b == 0 || a < b ? a : b); }

// The process's cgroup and each parent up to the mount's root. Without a
// cgroup namespace the path names the host's hierarchy, of which the mount
// may show only the container's part: missing directories are skipped.
unsigned walk_up(const std::string& base, std::string_view path, unsigned (*read)(const std::string&)) {
    std::string p(path);
    while (!p.empty() && p.back() == '/') p.pop_back();
    unsigned best = 0;
    for (;;) {
        best = tighter(best, read(base + p));
        if (p.empty()) return best;
        const std::size_t slash = p.rfind('/');
        p.resize(slash == std::string::npos ? 0 : slash);
    }
}

bool lists_cpu(std::string_view controllers) noexcept {
    while (!controllers.empty()) {
        const std::size_t comma = controllers.find(',');
        if (controllers.substr(0, comma) == "cpu") return true;
        if (comma == std::string_view::npos) break;
        controllers.remove_prefix(comma + 1);
    }
    return false;
}

}  // namespace

unsigned cgroup_cpu_limit(const std::string& root, std::string_view proc_self_cgroup) noexcept {
    try {
        unsigned best = 0;
        std::string_view rest = proc_self_cgroup;
        while (!rest.empty()) {
            const std::size_t nl = rest.find('\n');
            std::string_view line = rest.substr(0, nl);
            rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
            // hierarchy-id:controllers:path (the path itself may hold ':')
            const std::size_t c1 = line.find(':');
            if (c1 == std::string_view::npos) continue;
            const std::size_t c2 = line.find(':', c1 + 1);
            if (c2 == std::string_view::npos) continue;
            const std::string_view id = line.substr(0, c1);
            const std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
            const std::string_view path = line.substr(c2 + 1);
            if (path.empty() || path.front() != '/') continue;
            if (id == "0" && controllers.empty()) {
                best = tighter(best, walk_up(root, path, read_cpu_max));
            } else if (lists_cpu(controllers)) {
                best = tighter(best, walk_up(root + "/" + std::string(controllers), path, read_cfs_quota));
                if (controllers != "cpu") best = tighter(best, walk_up(root + "/cpu", path, read_cfs_quota));
            }
        }
        return best;
    } catch (...) {  // no memory for a path: no limit known
        return 0;
    }
}

unsigned affinity_cpus() noexcept {
#if defined(__linux__)
    // The kernel refuses a set smaller than its own CPU mask (EINVAL):
    // machines with more than CPU_SETSIZE (1024) CPUs need a bigger one.
    for (std::size_t ncpus = CPU_SETSIZE; ncpus <= (std::size_t{1} << 22); ncpus *= 2) {
        cpu_set_t* set = CPU_ALLOC(ncpus);
        if (!set) return 0;
        const std::size_t size = CPU_ALLOC_SIZE(ncpus);
        const int rc = ::sched_getaffinity(0, size, set);
        const int err = errno;
        const int n = rc == 0 ? CPU_COUNT_S(size, set) : 0;
        CPU_FREE(set);
        if (rc == 0) return n > 0 ? static_cast<unsigned>(n) : 0;
        if (err != EINVAL) return 0;
    }
#endif
    return 0;
}

unsigned usable_cpus() noexcept {
    unsigned n = affinity_cpus();
    if (n == 0) n = std::thread::hardware_concurrency();
#if defined(__linux__)
    try {
        std::string self;
        if (read_file("/proc/self/cgroup", self)) n = tighter(n, cgroup_cpu_limit("/sys/fs/cgroup", self));
    } catch (...) {  // no memory for the file's text: the affinity alone
    }
#endif
    return n > 0 ? n : 1;
}

}  // namespace weft::detail
