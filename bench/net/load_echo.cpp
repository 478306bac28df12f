// Closed-loop TCP echo load generator: one thread, one epoll set, every
// connection non-blocking. Each connection sends SIZE bytes, waits for all of
// them to come back, checks every byte, and sends the next message at once.
// Usage: load_echo --port P [--host 127.0.0.1] [--connections 100] [--size 64]
//                  [--seconds 5] [--warmup 0.5] [--lines]
// --lines: every message is one text line (no '\n' inside, '\n' last), for
// line-protocol servers that answer a line with the same line.
// Prints a human line and one JSON line; exits 3 on a byte mismatch, 4 when a
// connection fails or the server closes it, 2 on bad arguments or connect errors.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

std::int64_t now_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct conn {
    int fd = -1;
    std::uint32_t id = 0;
    std::uint64_t seq = 0;       // message number, part of the byte pattern
    std::size_t sent = 0;        // bytes of the current message written
    std::size_t received = 0;    // bytes of the current message read back
    bool want_out = false;       // EPOLLOUT armed (a send was short)
    std::int64_t started_ns = 0; // when the current message's first byte went out
};

// The byte at offset i of message seq on connection id: changes every message,
// so a stale or reordered echo is caught, not just a corrupted one.
bool lines_mode = false;       // --lines
std::size_t message_size = 0;  // --size

inline unsigned char pattern(std::uint32_t id, std::uint64_t seq, std::size_t i) {
    const auto b = static_cast<unsigned char>((id * 131u) ^ (seq * 7u) ^ (i * 13u) ^ (i >> 8));
    if (!lines_mode) return b;
    if (i + 1 == message_size) return '\n';
    return b == '\n' ? static_cast<unsigned char>(b | 0x80) : b;
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "load_echo: %s\nusage: load_echo --port P [--host 127.0.0.1] [--connections N] [--size S] "
                 "[--seconds D] [--warmup W] [--lines]\n",
                 why);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    int port = -1;
    long connections = 100;
    long size = 64;
    double seconds = 5.0;
    double warmup = 0.5;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--host") host = val();
        else if (a == "--port") port = std::atoi(val());
        else if (a == "--connections") connections = std::atol(val());
        else if (a == "--size") size = std::atol(val());
        else if (a == "--seconds") seconds = std::atof(val());
        else if (a == "--warmup") warmup = std::atof(val());
        else if (a == "--lines") lines_mode = true;
        else usage(("unknown argument " + a).c_str());
    }
    if (port <= 0 || port > 65535) usage("--port is required (1..65535)");
    if (connections <= 0 || size <= 0 || seconds <= 0 || warmup < 0) usage("bad --connections/--size/--seconds/--warmup");

    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &to.sin_addr) != 1) usage("--host must be an IPv4 address");

    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) { std::perror("load_echo: epoll_create1"); return 2; }

    std::vector<conn> conns(static_cast<std::size_t>(connections));
    const auto sz = static_cast<std::size_t>(size);
    message_size = sz;
    std::vector<unsigned char> out(sz), in(std::min<std::size_t>(sz, 64 * 1024));

    // Connect blocking (simple, and done before the clock starts), then go non-blocking.
    for (std::size_t k = 0; k < conns.size(); ++k) {
        conn& c = conns[k];
        c.id = static_cast<std::uint32_t>(k);
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c.fd < 0) { std::perror("load_echo: socket"); return 2; }
        if (::connect(c.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
            std::fprintf(stderr, "load_echo: connect %s:%d: %s\n", host.c_str(), port, std::strerror(errno));
            return 2;
        }
        const int one = 1;
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;  // level-triggered; EPOLLOUT only while a send is short
        ev.data.u64 = k;
        if (::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0) { std::perror("load_echo: epoll_ctl"); return 2; }
    }

    // Latency histogram: 1 us buckets up to 100 ms, the rest in the last one.
    constexpr std::size_t hist_buckets = 100'000;
    std::vector<std::uint32_t> hist(hist_buckets + 1, 0);

    std::uint64_t done = 0, done_at_start = 0;
    std::uint64_t mismatches = 0, failures = 0;
    const std::int64_t t0 = now_ns();
    const std::int64_t measure_from = t0 + static_cast<std::int64_t>(warmup * 1e9);
    const std::int64_t stop_at = measure_from + static_cast<std::int64_t>(seconds * 1e9);
    bool measuring = warmup == 0;
    std::int64_t measured_start = measuring ? t0 : 0;

    auto set_out = [&](conn& c, bool on) {
        if (c.want_out == on) return;
        c.want_out = on;
        epoll_event ev{};
        ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
        ev.data.u64 = c.id;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
    };
    // Writes what the kernel takes of the current message. False on a hard error.
    auto pump_out = [&](conn& c) -> bool {
        while (c.sent < sz) {
            // Fill the pattern lazily for the bytes about to go out.
            const std::size_t n0 = std::min<std::size_t>(sz - c.sent, out.size());
            for (std::size_t i = 0; i < n0; ++i) out[i] = pattern(c.id, c.seq, c.sent + i);
            const ssize_t n = ::send(c.fd, out.data(), n0, MSG_NOSIGNAL);
            if (n > 0) { c.sent += static_cast<std::size_t>(n); continue; }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { set_out(c, true); return true; }
            std::fprintf(stderr, "load_echo: send on connection %u: %s\n", c.id, std::strerror(errno));
            return false;
        }
        set_out(c, false);
        return true;
    };
    auto start_message = [&](conn& c, std::int64_t now) -> bool {
        c.sent = c.received = 0;
        c.started_ns = now;
        return pump_out(c);
    };

    for (conn& c : conns)
        if (!start_message(c, t0)) return 4;

    epoll_event evs[512];
    for (;;) {
        std::int64_t now = now_ns();
        if (!measuring && now >= measure_from) {
            measuring = true;
            measured_start = now;
            done_at_start = done;
        }
        if (now >= stop_at) break;
        const int timeout_ms = static_cast<int>(std::max<std::int64_t>(1, (std::min(stop_at, measuring ? stop_at : measure_from) - now) / 1'000'000));
        const int n = ::epoll_wait(ep, evs, 512, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::perror("load_echo: epoll_wait");
            return 4;
        }
        now = n > 0 ? now_ns() : now;
        for (int e = 0; e < n; ++e) {
            conn& c = conns[evs[e].data.u64];
            if (evs[e].events & EPOLLOUT) {
                if (!pump_out(c)) return 4;
            }
            if (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                for (;;) {
                    const std::size_t want = std::min(in.size(), sz - c.received);
                    // Never read past the current message: the server cannot have sent more.
                    const ssize_t r = ::recv(c.fd, in.data(), want, 0);
                    if (r > 0) {
                        const auto got = static_cast<std::size_t>(r);
                        if (c.received + got > c.sent) {
                            std::fprintf(stderr, "load_echo: connection %u got %zu bytes back, only %zu sent\n",
                                         c.id, c.received + got, c.sent);
                            ++mismatches;
                            return 3;
                        }
                        for (std::size_t i = 0; i < got; ++i) {
                            if (in[i] != pattern(c.id, c.seq, c.received + i)) {
                                std::fprintf(stderr,
                                             "load_echo: byte mismatch on connection %u, message %llu, offset %zu: "
                                             "got 0x%02x, expected 0x%02x\n",
                                             c.id, static_cast<unsigned long long>(c.seq), c.received + i, in[i],
                                             pattern(c.id, c.seq, c.received + i));
                                ++mismatches;
                                return 3;
                            }
                        }
                        c.received += got;
                        if (c.received == sz) {
                            ++done;
                            if (measuring) {
                                const auto us = static_cast<std::size_t>((now - c.started_ns) / 1000);
                                ++hist[std::min(us, hist_buckets)];
                            }
                            ++c.seq;
                            if (!start_message(c, now)) return 4;
                            break;  // level-triggered: more data, if any, reports again
                        }
                        if (static_cast<std::size_t>(r) < want) break;  // drained for now
                        continue;
                    }
                    if (r < 0 && errno == EINTR) continue;
                    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                    std::fprintf(stderr, "load_echo: connection %u: %s\n", c.id,
                                 r == 0 ? "server closed the connection" : std::strerror(errno));
                    ++failures;
                    return 4;
                }
            }
        }
    }
    const std::int64_t end = now_ns();
    const double elapsed = static_cast<double>(end - measured_start) / 1e9;
    const std::uint64_t measured = done - done_at_start;
    const double rate = static_cast<double>(measured) / elapsed;

    auto percentile = [&](double p) -> double {
        std::uint64_t total = 0;
        for (auto h : hist) total += h;
        if (total == 0) return 0;
        const auto rank = static_cast<std::uint64_t>(p * static_cast<double>(total - 1));
        std::uint64_t seen = 0;
        for (std::size_t b = 0; b < hist.size(); ++b) {
            seen += hist[b];
            if (seen > rank) return static_cast<double>(b);
        }
        return static_cast<double>(hist_buckets);
    };
    const double p50 = percentile(0.50), p99 = percentile(0.99);

    // The generator's own CPU time: near 100% of the run means it, not the server, set the pace.
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    const double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;

    // The slowest connection's completed round trips: 0 means one was never answered.
    std::uint64_t min_per_conn = conns.empty() ? 0 : conns[0].seq;
    for (const conn& c : conns) min_per_conn = std::min<std::uint64_t>(min_per_conn, c.seq);
    for (conn& c : conns) ::close(c.fd);
    ::close(ep);

    std::printf("load_echo: %s:%d, %ld connections x %ld bytes, %.2f s: %.0f round trips/s "
                "(latency p50 %.0f us, p99 %.0f us), every byte verified\n",
                host.c_str(), port, connections, size, elapsed, rate, p50, p99);
    std::printf("{\"round_trips_per_s\": %.1f, \"round_trips\": %llu, \"seconds\": %.3f, \"connections\": %ld, "
                "\"size\": %ld, \"p50_us\": %.0f, \"p99_us\": %.0f, \"total_round_trips\": %llu, \"total_seconds\": %.3f, "
                "\"load_cpu_s\": %.3f, \"mismatches\": %llu, \"failures\": %llu, \"min_round_trips_per_connection\": %llu}\n",
                rate, static_cast<unsigned long long>(measured), elapsed, connections, size, p50, p99,
                static_cast<unsigned long long>(done), static_cast<double>(end - t0) / 1e9, cpu_s,
                static_cast<unsigned long long>(mismatches), static_cast<unsigned long long>(failures),
                static_cast<unsigned long long>(min_per_conn));
    return 0;
}
