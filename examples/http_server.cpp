// HTTP/1.1 server on fibers: keep-alive "hello" at / and static files under
// /static/ (plain HTTP: sendfile(2) from the file to the socket; HTTPS: read
// through weft::fs and written through TLS; a deadline either way); the
// requests themselves are handled by http_handler.cpp.
// Usage: http_server [ADDRESS] [--root DIR] [--port-file PATH] [--workers N]
//                    [--header-timeout S] [--idle-timeout S]
//                    [--tls-cert FILE --tls-key FILE]
//   ADDRESS ("host:port", ":port" for every address) defaults to 127.0.0.1:8080.
//   With a certificate and key it speaks HTTPS (weft::net::tls_stream); one
//   template serves both kinds of connection (weft::net::stream).
// SIGINT/SIGTERM stop it gracefully: no new connections, 2 s for those open.
// A request must arrive whole within --header-timeout of its first byte
// (slow-loris clients that trickle headers are answered 408 and dropped); a
// keep-alive connection with no request under way is dropped after
// --idle-timeout.
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <weft/weft.hpp>

#include "example_args.hpp"
#include "http_handler.hpp"

namespace {

const char usage[] =
    "usage: http_server [ADDRESS] [--root DIR] [--port-file PATH] [--workers N]\n"
    "                   [--header-timeout S] [--idle-timeout S] [--tls-cert FILE --tls-key FILE]\n"
    "  ADDRESS           where to listen (default 127.0.0.1:8080): \"host:port\",\n"
    "                    \":port\" (every address, IPv4 and IPv6), \"[::1]:port\",\n"
    "                    \"localhost:port\"; port 0 picks a free port\n"
    "  --root DIR        serve the files in DIR under /static/\n"
    "  --port-file PATH  write the port to PATH once listening\n"
    "  --workers N       N workers (1 to 1024, default 1), one SO_REUSEPORT listener each\n"
    "  --header-timeout S  a request (headers and any body) must arrive within S\n"
    "                    seconds of its first byte, else 408 and close (1 to 3600, default 10)\n"
    "  --idle-timeout S  close a connection with no request under way after S seconds\n"
    "                    (1 to 3600, default 30)\n"
    "  --tls-cert FILE   HTTPS: the PEM certificate chain to present (needs --tls-key)\n"
    "  --tls-key FILE    HTTPS: the PEM private key of that certificate\n"
    "  --help            this text\n"
    "SIGINT or SIGTERM stops it: no new connections, 2 s for those open.\n";

// A static file opened for reading: O_NONBLOCK so opening a FIFO does not
// wait for a writer, cleared once the file is known to be a regular one
// (io_uring would otherwise give EAGAIN for a read that has to go to the
// disk). O_NOFOLLOW: the handler resolved every link in path; one put there
// since is refused.
// The open goes through weft::fs (the offload pool): a slow directory lookup
// parks only this fiber.
weft::fs::file open_static(const std::string& path, std::uint64_t& size) {
    std::error_code ec;
    weft::fs::file f = weft::fs::file::open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW, 0, ec);
    if (ec) return {};
    struct stat st;
    if (::fstat(f.native_handle(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    if (::fcntl(f.native_handle(), F_SETFL, 0) != 0) return {};
    size = static_cast<std::uint64_t>(st.st_size);
    return f;
}

// HTTPS: a static file read whole through weft::fs (the read parks only this
// fiber, in the worker's io_uring or on the offload pool), then written
// through TLS with the other responses.
bool read_static(const std::string& path, std::string& body) {
    std::uint64_t size = 0;
    weft::fs::file f = open_static(path, size);
    if (!f.is_open() || size > (std::uint64_t{1} << 30)) return false;  // 1 GiB: a response held in memory
    body.resize(static_cast<std::size_t>(size));
    std::size_t got = 0;
    std::error_code ec;
    while (got < body.size()) {
        const std::size_t n = f.pread(body.data() + got, body.size() - got, got, ec);
        if (ec) return false;
        if (n == 0) break;  // shrank meanwhile
        got += n;
    }
    body.resize(got);
    return true;
}

// Plain HTTP: the head, then the file straight from the page cache to the
// socket (tcp_stream::send_file). Each piece of up to 1 MiB must go out
// within 10 s, so a client that stops reading is dropped, while one that
// reads a large file slowly but steadily is not.
http_example::http_session::file_sent send_static(weft::net::tcp_stream& conn, const std::string& path,
                                                  bool keep_alive) {
    using sent = http_example::http_session::file_sent;
    std::uint64_t size = 0;
    weft::fs::file f = open_static(path, size);
    if (!f.is_open()) return sent::not_found;
    std::error_code ec;
    const std::string head = http_example::http_session::file_head(size, keep_alive);
    conn.write_all(head.data(), head.size(), ec, std::chrono::seconds(10));
    if (ec) return sent::failed;
    constexpr std::uint64_t piece = 1u << 20;
    for (std::uint64_t done = 0; done < size;) {
        const auto n = static_cast<std::size_t>(std::min(piece, size - done));
        done += conn.send_file(f.native_handle(), done, n, ec, std::chrono::seconds(10));
        if (ec) return sent::failed;  // a timeout, a gone peer, or a file that shrank under us
    }
    return sent::sent;
}

struct server_config {
    std::string root;
    std::chrono::seconds header_timeout{10};
    std::chrono::seconds idle_timeout{30};
};

template <weft::net::stream Stream>
void serve(Stream& conn, const server_config& cfg) {
    using clock = std::chrono::steady_clock;
    http_example::http_session session(cfg.root, read_static);
    if constexpr (std::is_same_v<Stream, weft::net::tcp_stream>)
        session.set_send_file([&conn](const std::string& path, bool keep_alive) { return send_static(conn, path, keep_alive); });
    char buf[8192];
    std::error_code ec;
    const auto send = [&](std::string_view out) {
        // A client that stops reading is dropped after a while, not waited on forever.
        conn.write_all(out.data(), out.size(), ec, std::chrono::seconds(10));
        return !ec;
    };
    // Deadlines for the whole wait, not for each read: a client that sends
    // a byte now and then must not hold the connection for ever. Idle: since
    // the connection opened or its last answer. A request under way: since
    // its first byte.
    clock::time_point idle_since = clock::now();
    std::optional<clock::time_point> request_by;
    unsigned long answered = 0;
    for (;;) {
        const weft::deadline d(request_by ? *request_by : idle_since + cfg.idle_timeout);
        const std::size_t n = conn.read(buf, sizeof buf, ec, d);
        if (ec == std::errc::timed_out) {
            if (request_by) send(http_example::http_session::request_timeout());
            break;
        }
        if (ec) return;
        if (!session.feed(buf, n, send)) break;  // n == 0: the peer closed
        const clock::time_point now = clock::now();
        if (session.answered() != answered) {
            answered = session.answered();
            idle_since = now;
            request_by.reset();
        }
        if (session.mid_request() && !request_by) request_by = now + cfg.header_timeout;
    }
    conn.shutdown(ec, std::chrono::seconds(2));  // HTTPS: close_notify, so the client sees a clean end
}

#ifdef WEFT_HAVE_TLS
using tls_setup = std::optional<weft::net::tls_context>;
#else
struct tls_setup {  // without OpenSSL: never set
    explicit operator bool() const { return false; }
};
#endif

void serve_connection(weft::net::tcp_stream conn, const server_config& cfg, const tls_setup& tls) {
#ifdef WEFT_HAVE_TLS
    if (tls) {
        // Small writes go out at once (nginx sets TCP_NODELAY too): a TLS 1.3
        // handshake ends with the session tickets in writes of their own, and
        // with Nagle's algorithm the first answer would wait behind them for
        // the client's delayed ACK, some 40 ms. Best effort: no error path.
        std::error_code ec;
        conn.set_nodelay(true, ec);
        // The handshake gets a deadline of its own: a client that connects
        // and says nothing does not hold a fiber for long.
        weft::net::tls_stream s = weft::net::tls_stream::accept(std::move(conn), *tls, ec, std::chrono::seconds(10));
        if (!ec) serve(s, cfg);
        return;
    }
#endif
    (void)tls;
    serve(conn, cfg);
}

}  // namespace

// One listener per worker on the same port (SO_REUSEPORT): the kernel spreads
// connections over them, and each is served on the worker that accepted it.
void accept_loop(weft::net::tcp_listener& listener, const server_config& cfg, const tls_setup& tls) {
    for (;;) {
        weft::net::tcp_stream conn = listener.accept();
        weft::spawn_on(
            weft::worker_index(),
            [c = std::move(conn), &cfg, &tls]() mutable { serve_connection(std::move(c), cfg, tls); },
            {.name = "http-conn"})
            .detach();
    }
}

int main(int argc, char** argv) {
    std::string where = "127.0.0.1:8080", port_file, tls_cert, tls_key;
    server_config cfg;
    long workers = 1;
    bool have_where = false;
    example_args::parser args("http_server", usage, argc, argv);
    while (const char* a = args.next()) {
        const std::string_view arg = a;
        if (arg == "--root") cfg.root = args.value(a);
        else if (arg == "--header-timeout") cfg.header_timeout = std::chrono::seconds(args.number(a, 1, 3600));
        else if (arg == "--idle-timeout") cfg.idle_timeout = std::chrono::seconds(args.number(a, 1, 3600));
        else if (arg == "--port-file") port_file = args.value(a);
        else if (arg == "--workers") workers = args.number(a, 1, 1024);
        else if (arg == "--tls-cert") tls_cert = args.value(a);
        else if (arg == "--tls-key") tls_key = args.value(a);
        else if (!args.is_flag(a) && !have_where) {
            where = a;
            have_where = true;
        } else {
            args.unknown(a);
        }
    }
    if (tls_cert.empty() != tls_key.empty()) args.fail("--tls-cert and --tls-key go together");
    tls_setup tls;
    try {
        if (!tls_cert.empty()) {
#ifdef WEFT_HAVE_TLS
            tls = weft::net::tls_context::server(tls_cert, tls_key);
            tls->set_alpn({"http/1.1"});
#else
            args.fail("this weft was built without TLS (OpenSSL): no --tls-cert");
#endif
        }
        weft::runtime rt{{.workers = static_cast<unsigned>(workers)}};
        // SIGINT/SIGTERM go to the workers (they started with them unblocked),
        // where signal_wait hears them; this thread only waits in run().
        sigset_t stop_signals;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGINT);
        sigaddset(&stop_signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
        rt.run([&] {
            const weft::net::listen_options opts{.reuse_port = workers > 1};
            std::vector<weft::net::tcp_listener> listeners;
            listeners.push_back(weft::net::tcp_listener::bind(where, opts));
            // The others bind the address and port the first got ("[::]:P" stays dual-stack).
            const weft::net::address at = listeners.front().local_address();
            for (long w = 1; w < workers; ++w) listeners.push_back(weft::net::tcp_listener::bind(at.to_string(), opts));
            std::printf("http_server: listening on %s (%s) with %ld worker%s\n", at.to_string().c_str(),
                        tls ? "https" : "http", workers, workers == 1 ? "" : "s");
            std::fflush(stdout);
            if (!port_file.empty()) std::ofstream(port_file) << at.port() << "\n";
            weft::task_group acceptors;
            for (long w = 0; w < workers; ++w)
                acceptors.spawn([&, w] { accept_loop(listeners[static_cast<std::size_t>(w)], cfg, tls); },
                                {.name = "acceptor", .worker = static_cast<int>(w)});
            // Graceful stop: no new connections; requests in flight get 2 s.
            const int sig = weft::signal_wait({SIGINT, SIGTERM});
            std::printf("http_server: signal %d, stopping\n", sig);
            std::fflush(stdout);
            acceptors.cancel();
            rt.stop(std::chrono::seconds(2));
            acceptors.wait();
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "http_server: %s\n", e.what());
        return 1;
    }
}
