// A first weft program: named fibers that sleep and wake in deadline order,
// two fibers passing a baton with yield, and ten thousand parked fibers.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <weft/weft.hpp>

#include "example_args.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

static long rss_kib() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

static const char usage[] =
    "usage: hello_fibers [PARKED]\n"
    "  PARKED  how many fibers to park in part 3 (0 to 10000000, default 10000)\n"
    "  --help  this text\n";

int main(int argc, char** argv) {
    int parked = 10'000;
    bool have_parked = false;
    example_args::parser args("hello_fibers", usage, argc, argv);
    while (const char* a = args.next()) {
        if (args.is_flag(a) || have_parked) args.unknown(a);
        const std::string_view v = a;
        const auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), parked);
        if (v.empty() || err != std::errc() || end != v.data() + v.size() || parked < 0 || parked > 10'000'000)
            args.fail("PARKED needs a number from 0 to 10000000, not '" + std::string(v) + "'");
        have_parked = true;
    }
    int failures = 0;
    weft::run([&] {
        // 1. Sleepers: spawned in reverse, they wake in deadline order.
        std::vector<std::string> woke;
        std::vector<weft::fiber_handle> sleepers;
        clock_type::time_point t0;  // set once all are spawned; they first run at the join below
        for (int i = 4; i >= 0; --i) {
            std::string name = "sleeper-" + std::to_string(i);
            sleepers.push_back(weft::spawn(
                [&woke, i, &t0] {
                    weft::this_fiber::sleep_until(t0 + (i + 1) * 10ms);
                    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
                    std::printf("  fiber '%s' #%llu woke after %lld ms\n", std::string(weft::this_fiber::name()).c_str(),
                                static_cast<unsigned long long>(weft::this_fiber::id()),
                                static_cast<long long>(ms.count()));
                    woke.emplace_back(weft::this_fiber::name());
                },
                {.name = name}));
        }
        t0 = clock_type::now();
        for (auto& h : sleepers) h.join();
        for (int i = 0; i < 5; ++i)
            if (woke[i] != "sleeper-" + std::to_string(i)) ++failures;

        // 2. Two fibers hand a baton back and forth by yielding.
        constexpr long rounds = 1'000'000;
        long baton = 0;
        const auto s0 = clock_type::now();
        auto ping = weft::spawn([&] {
            for (long i = 0; i < rounds; ++i) {
                if (baton % 2 != 0) ++failures;
                ++baton;
                weft::this_fiber::yield();
            }
        });
        auto pong = weft::spawn([&] {
            for (long i = 0; i < rounds; ++i) {
                if (baton % 2 != 1) ++failures;
                ++baton;
                weft::this_fiber::yield();
            }
        });
        ping.join();
        pong.join();
        const double ns = std::chrono::duration<double, std::nano>(clock_type::now() - s0).count();
        std::printf("  %ld yields between two fibers: %.1f ns per switch\n", 2 * rounds, ns / (2.0 * rounds));
        if (baton != 2 * rounds) ++failures;

        // 3. Parked fibers cost a page or so each.
        const long before = rss_kib();
        const auto wake_at = clock_type::now() + 200ms;
        for (int i = 0; i < parked; ++i) weft::spawn([wake_at] { weft::this_fiber::sleep_until(wake_at); }).detach();
        weft::this_fiber::yield();  // let them all start and park
        const long after = rss_kib();
        std::printf("  %d parked fibers: %.1f KiB of memory each\n", parked, double(after - before) / parked);
    });
    std::printf(failures == 0 ? "hello_fibers: ok\n" : "hello_fibers: %d failures\n", failures);
    return failures == 0 ? 0 : 1;
}
