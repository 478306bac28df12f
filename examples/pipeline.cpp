// Pipeline: generate -> K transform stages -> aggregate, one fiber each,
// joined by bounded channels. The idioms a pipeline needs:
//   - each stage loops until its input is closed and drained, then closes
//     its output, so an end flows downstream by itself ("closing to drain");
//   - bounded channels give backpressure: a fast stage parks once the next
//     one is behind;
//   - a quit channel that is never sent on: closing it tells the source to
//     stop, every select on it sees it at once (Go's done channel); the
//     rest of the pipeline then drains what is in flight, nothing is lost;
//   - weft::select with send_case + recv_case (send unless told to quit),
//     default_case (try without parking), timeout_case (give up on a stall),
//     and timer and ticker cases (a time limit, a progress report).
// Usage: pipeline [--items N] [--stages K] [--buffer B] [--work W]
//                 [--progress-ms MS] [--stop-after N] [--time-limit-ms MS] [--stall-ms MS]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <weft/weft.hpp>

#include "example_args.hpp"

namespace {

using namespace std::chrono_literals;
using item = std::uint64_t;
using conveyor = weft::channel<item>;  // one link between two stages

const char usage[] =
    "usage: pipeline [--items N] [--stages K] [--buffer B] [--work W]\n"
    "                [--progress-ms MS] [--stop-after N] [--time-limit-ms MS] [--stall-ms MS]\n"
    "  --items N          the generator sends 1..N (default 1000000)\n"
    "  --stages K         transform stages between generator and aggregator (0 to 64, default 3)\n"
    "  --buffer B         capacity of each channel between stages (default 64; 0: rendezvous)\n"
    "  --work W           rounds of arithmetic per item and stage (default 100)\n"
    "  --progress-ms MS   a progress line every MS ms (default 100; 0: none)\n"
    "  --stop-after N     quit once the aggregator has N items, then drain (default 0: never)\n"
    "  --time-limit-ms MS quit after MS ms, then drain (default 0: no limit)\n"
    "  --stall-ms MS      the generator gives up when the first stage has had no room\n"
    "                     for MS ms (default 2000)\n"
    "  --help             this text\n";

struct options {
    long items = 1'000'000, stages = 3, buffer = 64, work = 100, progress_ms = 100, stop_after = 0,
         time_limit_ms = 0, stall_ms = 2000;
};

// What stage k does to an item: a few rounds of a 64-bit LCG, different per stage.
item transform(item v, long stage, long work) {
    for (long r = 0; r < work; ++r)
        v = v * 6364136223846793005ULL + 1442695040888963407ULL + static_cast<item>(stage);
    return v;
}

// Closes a channel however the scope is left: a stage that ends, normally
// or by an exception, lets the next one end too instead of waiting for ever.
struct close_on_exit {
    conveyor& ch;
    ~close_on_exit() { ch.close(); }
};

struct generator_stats {
    long sent = 0;
    long full = 0;  // times the first stage had no room at once
    bool quit = false, stalled = false;
};

void generate(conveyor& out, weft::channel<char>& quit, const options& o, generator_stats& g) {
    close_on_exit done{out};
    const auto on_quit = [&](std::optional<char>) { g.quit = true; };  // nullopt: quit is closed
    for (long i = 1; i <= o.items && !g.quit && !g.stalled; ++i) {
        const item v = static_cast<item>(i);
        // With default_case the select never parks: it fires when the
        // first stage has no room (and quit is still open) right now.
        bool full = false;
        int which = weft::select(weft::send_case(out, v), weft::recv_case(quit, on_quit),
                                 weft::default_case([&] { full = true; }));
        if (full) {
            ++g.full;
            // Park until there is room or we are told to quit; a stall
            // (a stage that stopped taking items) ends the run instead.
            which = weft::select(weft::send_case(out, v), weft::recv_case(quit, on_quit),
                                 weft::timeout_case(std::chrono::milliseconds(o.stall_ms), [&] { g.stalled = true; }));
        }
        if (which == 0) ++g.sent;  // the send case won: v was handed over
    }
}

// A middle stage: plain blocking code, no select needed. The range-for
// ends when `in` is closed and drained; close_on_exit then closes `out`.
void stage(conveyor& in, conveyor& out, long k, long work) {
    close_on_exit done{out};
    for (item v : in) out.send(transform(v, k, work));
}

struct aggregate_stats {
    long count = 0;
    item sum = 0;
    long count_at_quit = -1;
    const char* quit_reason = nullptr;
};

void aggregate(std::deque<conveyor>& links, weft::channel<char>& quit, const options& o, aggregate_stats& a) {
    conveyor& in = links.back();
    weft::ticker progress{std::chrono::milliseconds(o.progress_ms > 0 ? o.progress_ms : 1)};
    if (o.progress_ms == 0) progress.stop();  // a stopped ticker's case never fires
    weft::timer limit;                        // made stopped: it fires only if armed
    if (o.time_limit_ms > 0) limit.reset(std::chrono::milliseconds(o.time_limit_ms));
    const auto stop_source = [&](const char* why) {
        if (quit.close()) {  // true for the first close only
            a.quit_reason = why;
            a.count_at_quit = a.count;
        }
    };
    const auto t0 = std::chrono::steady_clock::now();
    auto last = t0;
    long last_count = 0;
    try {
        for (bool open = true; open;) {
            weft::select(
                weft::recv_case(in, [&](std::optional<item> v) {
                    if (!v) {  // closed and drained: every stage before us has ended
                        open = false;
                        return;
                    }
                    a.sum += *v;
                    if (++a.count == o.stop_after) stop_source("--stop-after");
                }),
                weft::recv_case(progress, [&](weft::tick t) {
                    // How full each channel is shows where the pipeline is slow.
                    const double dt = std::chrono::duration<double>(t.due - last).count();
                    std::printf("  progress: %ld items, %.0f/s, queued", a.count, dt > 0 ? (a.count - last_count) / dt : 0.0);
                    for (const conveyor& l : links) std::printf(" %zu", l.size());
                    std::printf(t.dropped > 0 ? " (%llu ticks missed)\n" : "\n",
                                static_cast<unsigned long long>(t.dropped));
                    last = t.due;
                    last_count = a.count;
                }),
                weft::recv_case(limit, [&](std::chrono::steady_clock::time_point) {
                    limit.stop();  // a fired timer stays fired: stop it, or every select sees it again
                    stop_source("--time-limit-ms");
                }));
        }
    } catch (...) {
        // We can no longer take items: make the senders fail (broken_pipe)
        // rather than park for ever, and tell the source to stop.
        quit.close();
        in.close();
        throw;
    }
}

// Joins every handle; rethrows the first exception that escaped one.
void join_all(std::vector<weft::fiber_handle>& fibers) {
    std::exception_ptr first;
    for (auto& f : fibers) {
        try {
            f.join();
        } catch (...) {
            if (!first) first = std::current_exception();
        }
    }
    if (first) std::rethrow_exception(first);
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    example_args::parser args("pipeline", usage, argc, argv);
    while (const char* a = args.next()) {
        const std::string_view arg = a;
        if (arg == "--items") o.items = args.number(a, 0, 1'000'000'000);
        else if (arg == "--stages") o.stages = args.number(a, 0, 64);
        else if (arg == "--buffer") o.buffer = args.number(a, 0, 1'000'000);
        else if (arg == "--work") o.work = args.number(a, 0, 1'000'000);
        else if (arg == "--progress-ms") o.progress_ms = args.number(a, 0, 60'000);
        else if (arg == "--stop-after") o.stop_after = args.number(a, 0, 1'000'000'000);
        else if (arg == "--time-limit-ms") o.time_limit_ms = args.number(a, 0, 3'600'000);
        else if (arg == "--stall-ms") o.stall_ms = args.number(a, 1, 3'600'000);
        else args.unknown(a);
    }

    std::printf("pipeline: %ld items through %ld stages, channels of %ld\n", o.items, o.stages, o.buffer);
    std::fflush(stdout);
    generator_stats g;
    aggregate_stats a;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        weft::run([&] {
            // links[0] feeds stage 0, links[k + 1] is stage k's output, the
            // last one feeds the aggregator. A deque: channels do not move.
            std::deque<conveyor> links;
            for (long k = 0; k <= o.stages; ++k) links.emplace_back(static_cast<std::size_t>(o.buffer));
            weft::channel<char> quit;  // never sent on: closing it is the message
            std::vector<weft::fiber_handle> fibers;  // the aggregator first: its failure is the one to report
            try {
                fibers.push_back(weft::spawn([&] { aggregate(links, quit, o, a); }, {.name = "aggregate"}));
                fibers.push_back(weft::spawn([&] { generate(links.front(), quit, o, g); }, {.name = "generate"}));
                for (long k = 0; k < o.stages; ++k)
                    fibers.push_back(weft::spawn([&, k] { stage(links[k], links[k + 1], k, o.work); },
                                                 {.name = "stage"}));
            } catch (...) {
                // A spawn failed: end the fibers already running, then join them.
                quit.close();
                for (conveyor& l : links) l.close();
                try {
                    join_all(fibers);
                } catch (...) {
                }
                throw;
            }
            join_all(fibers);
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pipeline: %s\n", e.what());
        return 1;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // The channels are FIFOs and nothing is dropped while draining, so the
    // aggregator saw exactly items 1..sent, transformed by every stage.
    item expected = 0;
    for (long i = 1; i <= g.sent; ++i) {
        item v = static_cast<item>(i);
        for (long k = 0; k < o.stages; ++k) v = transform(v, k, o.work);
        expected += v;
    }
    std::printf("  generated %ld (the first stage was full %ld times), aggregated %ld in %.3f s\n", g.sent, g.full,
                a.count, s);
    if (a.quit_reason)
        std::printf("  quit (%s) at %ld items; %ld more were in flight and drained\n", a.quit_reason,
                    a.count_at_quit, a.count - a.count_at_quit);
    if (g.stalled) std::printf("  the generator gave up: no room for %ld ms\n", o.stall_ms);
    std::printf("  sum %016llx, expected %016llx\n", static_cast<unsigned long long>(a.sum),
                static_cast<unsigned long long>(expected));
    const bool ok = a.count == g.sent && a.sum == expected;
    std::printf(ok ? "pipeline: ok\n" : "pipeline: FAILED\n");
    return ok ? 0 : 1;
}
