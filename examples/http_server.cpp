// HTTP/1.1 server on fibers: keep-alive "hello" at / and static files under
// /static/; the requests themselves are handled by http_handler.cpp.
// Usage: http_server [ADDRESS] [--root DIR] [--port-file PATH] [--workers N]
// SIGINT/SIGTERM stop it gracefully: no new connections, 2 s for those open.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <weft/weft.hpp>

#include "http_handler.hpp"

namespace {

void serve(weft::net::tcp_stream conn, const std::string& root) {
    http_example::http_session session(root);
    char buf[8192];
    std::error_code ec;
    const auto send = [&](std::string_view out) {
        conn.write_all(out.data(), out.size(), ec);
        return !ec;
    };
    for (;;) {
        // Idle keep-alive connections are dropped after a while.
        const std::size_t n = conn.read(buf, sizeof buf, ec, std::chrono::seconds(30));
        if (ec) return;
        if (!session.feed(buf, n, send)) return;  // n == 0: the peer closed
    }
}

}  // namespace

// One listener per worker on the same port (SO_REUSEPORT): the kernel spreads
// connections over them, and each is served on the worker that accepted it.
void accept_loop(weft::net::tcp_listener& listener, const std::string& root) {
    for (;;) {
        weft::net::tcp_stream conn = listener.accept();
        weft::spawn_on(weft::worker_index(), [c = std::move(conn), &root]() mutable { serve(std::move(c), root); },
                       {.name = "http-conn"})
            .detach();
    }
}

int main(int argc, char** argv) {
    std::string where = "127.0.0.1:8080", root, port_file;
    long workers = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--root") == 0 && i + 1 < argc) root = argv[++i];
        else if (std::strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) port_file = argv[++i];
        else if (std::strcmp(argv[i], "--workers") == 0 && i + 1 < argc) workers = std::atol(argv[++i]);
        else where = argv[i];
    }
    if (workers < 1 || workers > 1024) {
        std::fprintf(stderr, "http_server: --workers needs a number from 1 to 1024\n");
        return 2;
    }
    try {
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
            listeners.push_back(weft::net::tcp_listener::bind(weft::net::address::parse(where), opts));
            const weft::net::address at = listeners.front().local_address();  // port 0 resolved
            for (long w = 1; w < workers; ++w) listeners.push_back(weft::net::tcp_listener::bind(at, opts));
            std::printf("http_server: listening on %s with %ld worker%s\n", at.to_string().c_str(), workers,
                        workers == 1 ? "" : "s");
            std::fflush(stdout);
            if (!port_file.empty()) std::ofstream(port_file) << at.port() << "\n";
            weft::task_group acceptors;
            for (long w = 0; w < workers; ++w)
                acceptors.spawn([&, w] { accept_loop(listeners[static_cast<std::size_t>(w)], root); },
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
