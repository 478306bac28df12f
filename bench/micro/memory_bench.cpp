// Memory per parked fiber: spawns N detached fibers that all sleep to a common
// deadline, then reports spawn rate, RSS per fiber, VMA count and guard kind.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>

#include "stack/stack_pool.hpp"
#include "weft/weft.hpp"

namespace {

using steady = std::chrono::steady_clock;

std::size_t rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::size_t count_lines(const char* path) {
    std::ifstream in(path);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
}

long read_long(const char* path) {
    std::ifstream in(path);
    long v = -1;
    in >> v;
    return v;
}

double seconds(steady::duration d) { return std::chrono::duration<double>(d).count(); }

void usage(const char* argv0) {
    std::fprintf(stderr, "usage: %s [--fibers N] [--sleep-ms MS]\n"
                         "  fibers sleep until MS milliseconds (+ the spawn time) after spawning ends\n",
                 argv0);
    std::exit(2);
}

// Read by every fiber when it first runs, which is after main has set it:
// fibers spawned here do not run until the spawning fiber yields.
steady::time_point g_deadline;

}  // namespace

int main(int argc, char** argv) {
    std::size_t fibers = 1'000'000;
    long sleep_ms = 1500;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--fibers") == 0 && i + 1 < argc) {
            fibers = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--sleep-ms") == 0 && i + 1 < argc) {
            sleep_ms = std::strtol(argv[++i], nullptr, 10);
        } else {
            usage(argv[0]);
        }
    }
    if (fibers == 0) usage(argv[0]);

    const char* guard = weft::detail::guard_kind_name(weft::detail::probe_guard_kind());
    const long max_map_count = read_long("/proc/sys/vm/max_map_count");
    std::size_t spawned = 0, rss_before = 0, rss_parked = 0, vmas = 0;
    double spawn_s = 0, start_s = 0;
    std::string error;
    const auto t_begin = steady::now();

    weft::run([&] {
        rss_before = rss_bytes();
        const auto t0 = steady::now();
        try {
            for (; spawned < fibers; ++spawned)
                weft::spawn([] { weft::this_fiber::sleep_until(g_deadline); }).detach();
        } catch (const std::system_error& e) {
            error = e.what();
        }
        const auto t1 = steady::now();
        spawn_s = seconds(t1 - t0);
        // Starting a fiber costs no more than spawning it, so the deadline
        // leaves every fiber time to park first, however slow the machine.
        g_deadline = t1 + std::chrono::milliseconds(sleep_ms) + (t1 - t0);
        // Queued behind every new fiber: when this returns, each has run and parked.
        weft::this_fiber::yield();
        start_s = seconds(steady::now() - t1);
        rss_parked = rss_bytes();
        vmas = count_lines("/proc/self/maps");
        if (steady::now() >= g_deadline)
            error += (error.empty() ? "" : "; ") + std::string("deadline passed before all fibers parked; "
                                                               "raise --sleep-ms");
    });
    const auto t_end = steady::now();
    const double total_s = seconds(t_end - t_begin);
    const double finish_s = seconds(t_end - g_deadline);

    const double per_fiber_kib =
        spawned ? static_cast<double>(rss_parked - rss_before) / 1024.0 / static_cast<double>(spawned) : 0;
    std::printf("weft memory: fibers=%zu rss_per_fiber_kib=%.2f spawn_per_sec=%.3g start_per_sec=%.3g "
                "rss_mib=%.1f vmas=%zu max_map_count=%ld guard=%s stack_kib=%zu finish_s=%.2f total_s=%.2f\n",
                spawned, per_fiber_kib, spawn_s > 0 ? static_cast<double>(spawned) / spawn_s : 0.0,
                start_s > 0 ? static_cast<double>(spawned) / start_s : 0.0,
                static_cast<double>(rss_parked) / (1024.0 * 1024.0), vmas, max_map_count, guard,
                weft::default_stack_size / 1024, finish_s, total_s);
    if (!error.empty()) {
        std::fprintf(stderr, "weft memory: failed after %zu of %zu fibers: %s\n", spawned, fibers,
                     error.c_str());
        return 1;
    }
    return 0;
}
