// The worker count rules (see worker_count.hpp).
#include "runtime/worker_count.hpp"

#include <cstdlib>
#include <stdexcept>

#include "common/assert.hpp"
#include "platform/process.hpp"

namespace weft::detail {

namespace {
constexpr unsigned max_workers_floor = 1024;

std::string expected() { return " (expected a count of workers, 1.." + std::to_string(max_workers()) + ")"; }
}  // namespace

unsigned max_workers() noexcept {
    // Probing the CPUs costs a few syscalls: only when the floor is not enough.
    static const unsigned cached = [] {
        const unsigned cpus = usable_cpus();
        return cpus > max_workers_floor ? cpus : max_workers_floor;
    }();
    return cached;
}

unsigned parse_worker_count(std::string_view text, std::string& why) {
    if (text.empty()) {
        why = "empty" + expected();
        return 0;
    }
    if (text.front() == '-') {
        why = "negative" + expected();
        return 0;
    }
    const unsigned limit = max_workers();
    unsigned long long n = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            why = "not a decimal number" + expected();
            return 0;
        }
        // Digits past the limit only make it larger: stop counting, keep checking.
        if (n <= limit) n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n == 0) {
        why = "zero workers" + expected();
        return 0;
    }
    if (n > limit) {
        why = "more workers than weft allows" + expected();
        return 0;
    }
    return static_cast<unsigned>(n);
}

unsigned workers_from_env() {
    const char* env = std::getenv("WEFT_WORKERS");
    if (!env) return 0;
    std::string why;
    const unsigned n = parse_worker_count(env, why);
    if (n == 0) fatal("weft: WEFT_WORKERS=%s: %s", env, why.c_str());
    return n;
}

unsigned resolve_worker_count(unsigned requested) {
    if (requested == 0) return usable_cpus();
    if (requested > max_workers())
        throw std::invalid_argument("weft::runtime: runtime_options::workers = " + std::to_string(requested) +
                                    ": more workers than weft allows" + expected());
    return requested;
}

}  // namespace weft::detail
