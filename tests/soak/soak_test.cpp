// Soak test: a framed echo server under mixed load on 127.0.0.1 for a bounded
// time, asserting every byte echoed is verified, no fd leak, no fiber leak
// (both weft::run calls return, every handler ended) and stable RSS.
//   soak_test [--seconds N]   (WEFT_SOAK_SECONDS in the environment wins; default 20)
// The server runs weft::run on one thread, the clients weft::run on another.
// Client kinds, each a loop of sessions until the time is up:
//   normal     connect, a few frames (tiny to 1 MiB), verify, close
//   pipelined  one fiber writes frames while another reads and verifies them
//   reset      send a frame, read part of the echo, close with SO_LINGER 0 (RST)
//   half-close send frames, shutdown_write, read every echo, then EOF
//   silent     connect and send nothing: the server's idle deadline drops it
//   loris      trickle a frame a byte at a time: the per-frame deadline drops it
// Frame: 4-byte little-endian length, then that many bytes; echoed as is.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "weft/weft.hpp"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using weft::net::address;
using weft::net::tcp_listener;
using weft::net::tcp_stream;

namespace {

// Server deadlines: how long a connection may sit idle between frames, and
// how long one frame may take once its first byte arrived.
// Both are far above what a frame needs on loopback; a slow-loris client
// (a byte every 100 ms) still runs out of budget long before its frame is done.
constexpr auto idle_timeout = 2s;
constexpr auto frame_budget = 3s;
constexpr std::uint32_t max_frame = 4u << 20;

std::atomic<int> failures{0};

void fail(const char* fmt, const std::string& detail = {}) {
    if (failures.fetch_add(1) < 20) {
        std::fprintf(stderr, "soak: FAIL: %s%s%s\n", fmt, detail.empty() ? "" : ": ", detail.c_str());
        std::fflush(stderr);
    }
}

struct counters {
    std::atomic<std::uint64_t> sessions[6] = {};
    std::atomic<std::uint64_t> frames{0};
    std::atomic<std::uint64_t> bytes_verified{0};
    std::atomic<std::uint64_t> loris_dropped{0};
    std::atomic<std::uint64_t> silent_dropped{0};
    // server side
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::int64_t> handlers_live{0};
    std::atomic<std::uint64_t> server_timeouts{0};
    std::atomic<std::uint64_t> server_resets{0};
};
counters stats;
const char* const kind_names[6] = {"normal", "pipelined", "reset", "half-close", "silent", "loris"};

int count_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
        return n - 1;  // the directory's own fd
    }
    return -1;
}

std::size_t rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
    return 0;
}

bool is_peer_gone(std::error_code ec) {
    return ec == std::errc::connection_reset || ec == std::errc::broken_pipe;
}

// ---- server -----------------------------------------------------------------------------

void handle(tcp_stream s) {
    stats.handlers_live.fetch_add(1);
    std::vector<unsigned char> frame;
    for (int n = 0; n < 1'000'000; ++n) {
        unsigned char hdr[4];
        std::error_code ec;
        const std::size_t got = s.read(hdr, 1, ec, idle_timeout);
        if (ec == std::errc::timed_out) {
            stats.server_timeouts.fetch_add(1);
            break;
        }
        if (is_peer_gone(ec)) {
            stats.server_resets.fetch_add(1);
            break;
        }
        if (ec) {
            fail("server: read", ec.message());
            break;
        }
        if (got == 0) break;  // orderly close between frames
        weft::deadline_scope budget{frame_budget};
        if (s.read_exact(hdr + 1, 3, ec) != 3) {
            if (ec == std::errc::timed_out) stats.server_timeouts.fetch_add(1);
            else if (is_peer_gone(ec)) stats.server_resets.fetch_add(1);
            else if (ec) fail("server: header", ec.message());
            break;  // EOF inside a frame: the client went away
        }
        std::uint32_t len = 0;
        std::memcpy(&len, hdr, 4);
        if (len > max_frame) {
            fail("server: frame too long", std::to_string(len));
            break;
        }
        frame.resize(4 + len);
        std::memcpy(frame.data(), hdr, 4);
        if (s.read_exact(frame.data() + 4, len, ec) != len) {
            if (ec == std::errc::timed_out) stats.server_timeouts.fetch_add(1);
            else if (is_peer_gone(ec)) stats.server_resets.fetch_add(1);
            else if (ec) fail("server: payload", ec.message());
            break;
        }
        s.write_all(frame.data(), frame.size(), ec);
        if (ec) {
            if (is_peer_gone(ec)) stats.server_resets.fetch_add(1);
            else if (ec == std::errc::timed_out) stats.server_timeouts.fetch_add(1);
            else fail("server: write", ec.message());
            break;
        }
    }
    s.close();
    stats.handlers_live.fetch_sub(1);
}

void serve(tcp_listener& l, const std::atomic<bool>& stop) {
    for (long i = 0; i < 100'000'000 && !stop.load(); ++i) {
        std::error_code ec;
        tcp_stream s = l.accept(ec, 100ms);
        if (ec == std::errc::timed_out) continue;
        if (ec) {
            fail("accept", ec.message());
            weft::this_fiber::sleep_for(10ms);
            continue;
        }
        stats.accepted.fetch_add(1);
        weft::spawn([s = std::move(s)]() mutable { handle(std::move(s)); }, {.name = "soak-conn"}).detach();
    }
    // Every handler ends by itself (EOF, reset or a deadline): wait for them, bounded.
    for (int i = 0; i < 1000 && stats.handlers_live.load() > 0; ++i) weft::this_fiber::sleep_for(10ms);
    if (stats.handlers_live.load() != 0)
        fail("handlers still running 10 s after the clients stopped", std::to_string(stats.handlers_live.load()));
}

// ---- clients ----------------------------------------------------------------------------

std::vector<unsigned char> make_frame(std::mt19937& rng) {
    const unsigned pick = rng() % 100;
    std::uint32_t len;
    if (pick < 40) len = rng() % 17;                         // tiny, zero included
    else if (pick < 90) len = 1 + rng() % (64 << 10);        // up to 64 KiB
    else len = (256u << 10) + rng() % (768u << 10);          // 256 KiB .. 1 MiB
    std::vector<unsigned char> f(4 + len);
    std::memcpy(f.data(), &len, 4);
    std::uint32_t x = rng();
    for (std::size_t i = 4; i < f.size(); ++i) {
        x = x * 1664525u + 1013904223u;
        f[i] = static_cast<unsigned char>(x >> 24);
    }
    return f;
}

// Reads one echoed frame and compares it with what was sent.
bool read_echo(tcp_stream& c, const std::vector<unsigned char>& sent, std::vector<unsigned char>& buf,
               const char* who) {
    buf.resize(sent.size());
    std::error_code ec;
    const std::size_t got = c.read_exact(buf.data(), buf.size(), ec);
    if (ec || got != sent.size()) {
        fail(who, "echo read: " + (ec ? ec.message() : "EOF after " + std::to_string(got) + " of " +
                                                           std::to_string(sent.size()) + " bytes"));
        return false;
    }
    if (std::memcmp(buf.data(), sent.data(), sent.size()) != 0) {
        fail(who, "echoed bytes differ from the bytes sent");
        return false;
    }
    stats.bytes_verified.fetch_add(sent.size());
    stats.frames.fetch_add(1);
    return true;
}

tcp_stream connect_to(const address& at, const char* who) {
    std::error_code ec;
    tcp_stream c = tcp_stream::connect(at, ec, 10s);
    if (ec) fail(who, "connect: " + ec.message());
    return c;
}

void normal_session(const address& at, std::mt19937& rng) {
    tcp_stream c = connect_to(at, "normal");
    if (!c.is_open()) return;
    std::vector<unsigned char> buf;
    const int frames = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < frames; ++i) {
        const auto f = make_frame(rng);
        std::error_code ec;
        c.write_all(f.data(), f.size(), ec);
        if (ec) return fail("normal", "write: " + ec.message());
        if (!read_echo(c, f, buf, "normal")) return;
    }
}

void pipelined_session(const address& at, std::mt19937& rng) {
    tcp_stream c = connect_to(at, "pipelined");
    if (!c.is_open()) return;
    const int frames = 2 + static_cast<int>(rng() % 16);
    std::vector<std::vector<unsigned char>> sent;
    for (int i = 0; i < frames; ++i) sent.push_back(make_frame(rng));
    auto writer = weft::spawn([&] {
        for (const auto& f : sent) {
            std::error_code ec;
            c.write_all(f.data(), f.size(), ec);
            if (ec) return fail("pipelined", "write: " + ec.message());
        }
    }, {.name = "soak-pipe-writer"});
    std::vector<unsigned char> buf;
    for (const auto& f : sent)
        if (!read_echo(c, f, buf, "pipelined")) break;
    writer.join();
}

void reset_session(const address& at, std::mt19937& rng) {
    tcp_stream c = connect_to(at, "reset");
    if (!c.is_open()) return;
    auto f = make_frame(rng);
    std::error_code ec;
    c.write_all(f.data(), f.size(), ec);
    if (ec) return fail("reset", "write: " + ec.message());
    // Read a part of the echo (maybe none), then reset with data still in flight.
    std::vector<unsigned char> part(rng() % (f.size() + 1));
    c.read_exact(part.data(), part.size(), ec);
    if (ec) return fail("reset", "partial read: " + ec.message());
    if (!part.empty() && std::memcmp(part.data(), f.data(), part.size()) != 0)
        return fail("reset", "echoed bytes differ");
    stats.bytes_verified.fetch_add(part.size());
    const linger lg{1, 0};
    ::setsockopt(c.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    c.close();
}

void half_close_session(const address& at, std::mt19937& rng) {
    tcp_stream c = connect_to(at, "half-close");
    if (!c.is_open()) return;
    std::vector<std::vector<unsigned char>> sent;
    const int frames = 1 + static_cast<int>(rng() % 4);
    std::size_t total = 0;
    for (int i = 0; i < frames; ++i) {
        auto f = make_frame(rng);
        if (total + f.size() > (512u << 10)) f.assign(4, 0);  // an empty frame instead
        total += f.size();
        sent.push_back(std::move(f));
    }
    // Small enough (<= 512 KiB + headers) to sit in the socket buffers, so
    // writing everything before reading cannot stall both sides.
    auto writer = weft::spawn([&] {
        std::error_code ec;
        for (const auto& f : sent) {
            c.write_all(f.data(), f.size(), ec);
            if (ec) return fail("half-close", "write: " + ec.message());
        }
        c.shutdown_write(ec);
        if (ec) fail("half-close", "shutdown_write: " + ec.message());
    }, {.name = "soak-half-writer"});
    std::vector<unsigned char> buf;
    bool ok = true;
    for (const auto& f : sent)
        if (!(ok = read_echo(c, f, buf, "half-close"))) break;
    writer.join();
    if (!ok) return;
    char b;
    std::error_code ec;
    const std::size_t n = c.read(&b, 1, ec, 10s);
    if (ec || n != 0) fail("half-close", "expected EOF after the echoes: " + (ec ? ec.message() : "got data"));
}

void silent_session(const address& at) {
    tcp_stream c = connect_to(at, "silent");
    if (!c.is_open()) return;
    char b;
    std::error_code ec;
    // The server's idle deadline is 2 s; 20 s without its close is a failure.
    const std::size_t n = c.read(&b, 1, ec, 20s);
    if (ec == std::errc::connection_reset || (!ec && n == 0)) stats.silent_dropped.fetch_add(1);
    else fail("silent", "the server did not drop an idle connection: " + (ec ? ec.message() : "got data"));
}

void loris_session(const address& at, std::mt19937& rng) {
    tcp_stream c = connect_to(at, "loris");
    if (!c.is_open()) return;
    // A 1000-byte frame, one byte every 100 ms: it would take 100 s, the
    // server allows 3 s per frame; after 30 s without being dropped it fails.
    std::vector<unsigned char> f(4 + 996, static_cast<unsigned char>(rng()));
    const std::uint32_t len = 996;
    std::memcpy(f.data(), &len, 4);
    for (std::size_t i = 0; i < 300; ++i) {
        std::error_code ec;
        c.write_all(&f[i], 1, ec);
        if (is_peer_gone(ec)) {
            stats.loris_dropped.fetch_add(1);
            return;
        }
        if (ec) return fail("loris", "write: " + ec.message());
        char b;
        // The server's close shows as EOF (or a reset) here.
        const std::size_t n = c.read(&b, 1, ec, 100ms);
        if (ec == std::errc::timed_out) continue;
        if ((!ec && n == 0) || is_peer_gone(ec)) {
            stats.loris_dropped.fetch_add(1);
            return;
        }
        return fail("loris", ec ? ec.message() : std::string("echo of an unfinished frame"));
    }
    fail("loris", "a slow client was never dropped");
}

void run_clients(const address& at, steady::time_point until) {
    weft::run([&] {
        std::vector<weft::fiber_handle> fibers;
        // kind -> clients running it at once
        const int per_kind[6] = {8, 3, 3, 3, 2, 2};
        for (int kind = 0; kind < 6; ++kind) {
            for (int k = 0; k < per_kind[kind]; ++k) {
                fibers.push_back(weft::spawn([&at, until, kind, k] {
                    std::mt19937 rng(static_cast<unsigned>(kind * 1000 + k));
                    for (long i = 0; i < 10'000'000 && steady::now() < until && failures.load() == 0; ++i) {
                        switch (kind) {
                            case 0: normal_session(at, rng); break;
                            case 1: pipelined_session(at, rng); break;
                            case 2: reset_session(at, rng); break;
                            case 3: half_close_session(at, rng); break;
                            case 4: silent_session(at); break;
                            default: loris_session(at, rng); break;
                        }
                        stats.sessions[kind].fetch_add(1);
                    }
                }, {.name = kind_names[kind]}));
            }
        }
        for (auto& f : fibers) f.join();
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    long seconds = 20;
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--seconds=", 10) == 0) seconds = std::atol(argv[i] + 10);
        else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = std::atol(argv[++i]);
    if (const char* env = std::getenv("WEFT_SOAK_SECONDS"); env && *env) seconds = std::atol(env);
    if (seconds < 2) seconds = 2;

    // A watchdog: a hang (a fiber that never ends) fails instead of waiting for ctest's timeout.
    std::atomic<bool> finished{false};
    std::thread watchdog([&] {
        const auto limit = steady::now() + std::chrono::seconds(seconds + 90);
        while (!finished.load() && steady::now() < limit) std::this_thread::sleep_for(50ms);
        if (!finished.load()) {
            std::fprintf(stderr, "soak: FAIL: still running 90 s after the load stopped (a fiber that never ends?)\n");
            std::abort();
        }
    });

    // One short round first, so what weft opens once per process (the stack
    // pool's pidfd for process_madvise) exists before the fds are counted.
    weft::run([] {
        tcp_listener l = tcp_listener::bind(address::loopback_v4(0));
        auto h = weft::spawn([&] { handle(l.accept()); });
        tcp_stream c = tcp_stream::connect(l.local_address());
        c.close();
        h.join();
    });
    const int fds_before = count_fds();

    std::atomic<bool> stop{false};
    std::atomic<std::size_t> rss_warm{0}, rss_late{0};
    address at;
    std::atomic<bool> listening{false};
    std::thread server([&] {
        weft::run([&] {
            tcp_listener l = tcp_listener::bind(address::loopback_v4(0));
            at = l.local_address();
            listening.store(true);
            serve(l, stop);
        });
    });
    for (int i = 0; i < 1000 && !listening.load(); ++i) std::this_thread::sleep_for(10ms);
    if (!listening.load()) {
        std::fprintf(stderr, "soak: FAIL: the server did not start\n");
        std::abort();
    }

    const auto start = steady::now();
    const auto until = start + std::chrono::seconds(seconds);
    std::thread sampler([&] {
        // RSS once warmed up (a quarter in) and near the end, both under load.
        const auto warm_at = start + std::chrono::seconds(seconds) / 4;
        const auto late_at = start + std::chrono::seconds(seconds) * 9 / 10;
        while (steady::now() < warm_at && !stop.load()) std::this_thread::sleep_for(10ms);
        rss_warm.store(rss_kib());
        while (steady::now() < late_at && !stop.load()) std::this_thread::sleep_for(10ms);
        rss_late.store(rss_kib());
    });
    run_clients(at, until);
    stop.store(true);
    sampler.join();
    server.join();
    const int fds_after = count_fds();
    finished.store(true);
    watchdog.join();

    std::uint64_t sessions = 0;
    std::string per_kind;
    for (int k = 0; k < 6; ++k) {
        sessions += stats.sessions[k].load();
        per_kind += std::string(k ? ", " : "") + kind_names[k] + " " + std::to_string(stats.sessions[k].load());
        if (stats.sessions[k].load() == 0) fail("no session of a kind completed", kind_names[k]);
    }
    std::printf("soak: %ld s, %llu sessions (%s)\n", seconds, static_cast<unsigned long long>(sessions),
                per_kind.c_str());
    std::printf("soak: %llu frames, %.1f MiB echoed and verified; server: %llu accepted, %llu deadline "
                "closes, %llu resets; loris dropped %llu, silent dropped %llu\n",
                static_cast<unsigned long long>(stats.frames.load()),
                static_cast<double>(stats.bytes_verified.load()) / (1 << 20),
                static_cast<unsigned long long>(stats.accepted.load()),
                static_cast<unsigned long long>(stats.server_timeouts.load()),
                static_cast<unsigned long long>(stats.server_resets.load()),
                static_cast<unsigned long long>(stats.loris_dropped.load()),
                static_cast<unsigned long long>(stats.silent_dropped.load()));
    std::printf("soak: fds %d -> %d; RSS %zu KiB after warm-up -> %zu KiB near the end\n", fds_before,
                fds_after, rss_warm.load(), rss_late.load());

    if (fds_after != fds_before) fail("fd leak", std::to_string(fds_before) + " -> " + std::to_string(fds_after));
    if (stats.handlers_live.load() != 0) fail("fiber leak: connection handlers still counted live");
    if (stats.bytes_verified.load() == 0) fail("no bytes verified");
    if (stats.loris_dropped.load() == 0) fail("no slow client was dropped by a deadline");
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    std::printf("soak: RSS bound not checked under a sanitizer (its allocator quarantines freed memory)\n");
#else
    // Generous: memory must not keep growing with the number of connections
    // served, but allocator caches may settle a little higher.
    const std::size_t warm = rss_warm.load(), late = rss_late.load();
    if (warm == 0 || late > warm + warm / 2 + (64u << 10))
        fail("RSS grew", std::to_string(warm) + " KiB -> " + std::to_string(late) + " KiB");
#endif
    if (failures.load() != 0) {
        std::printf("soak: FAILED (%d failures)\n", failures.load());
        return 1;
    }
    std::printf("soak: ok, every byte verified\n");
    return 0;
}
