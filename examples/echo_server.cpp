// Echo server: one fiber per connection, plain blocking code.
// Usage: echo_server [ADDRESS] [--port-file PATH] [--max-connections N] [--workers N]
//   ADDRESS ("host:port", ":port" for every address) defaults to
//   127.0.0.1:7000; port 0 picks a free port. With --max-connections the
//   server exits after serving N connections (in all).
//   --workers N (default 1): N > 1 runs a weft::runtime with N workers, each
//   with its own acceptor fiber and SO_REUSEPORT listener on the same port, so
//   the kernel spreads connections over the workers; on exit it prints how
//   many connections each worker served.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <weft/weft.hpp>

#include "example_args.hpp"

namespace {

const char usage[] =
    "usage: echo_server [ADDRESS] [--port-file PATH] [--max-connections N] [--workers N]\n"
    "  ADDRESS              where to listen (default 127.0.0.1:7000): \"host:port\",\n"
    "                       \":port\" (every address, IPv4 and IPv6), \"[::1]:port\",\n"
    "                       \"localhost:port\"; port 0 picks a free port\n"
    "  --port-file PATH     write the port to PATH once listening\n"
    "  --max-connections N  exit after serving N connections in all\n"
    "  --workers N          N workers (1 to 1024, default 1), one SO_REUSEPORT listener each\n"
    "  --help               this text\n";

void announce(const weft::net::address& bound, const std::string& port_file) {
    std::printf("echo_server: listening on %s\n", bound.to_string().c_str());
    std::fflush(stdout);
    if (!port_file.empty()) std::ofstream(port_file) << bound.port() << "\n";
}

// Echoes until the client closes or an error. Kept on the accepting worker:
// with --workers, SO_REUSEPORT has already spread the connections over the
// workers, and those counts are what the server reports. Not needed for
// correctness: an fd's registration follows the fiber that waits on it, so
// a connection served on any worker raises its events there.
void spawn_echo(weft::net::tcp_stream conn) {
    weft::spawn_on(weft::worker_index(), [conn = std::move(conn)]() mutable {
        char buf[16 * 1024];
        std::error_code ec;
        for (;;) {
            const std::size_t n = conn.read(buf, sizeof buf, ec);
            if (ec || n == 0) break;  // error or the client closed
            conn.write_all(buf, n, ec);
            if (ec) break;
        }
    }, {.name = "echo-conn"}).detach();
}

void serve_one_worker(const std::string& where, const std::string& port_file, long max_connections) {
    weft::run([&] {
        auto listener = weft::net::tcp_listener::bind(where);
        announce(listener.local_address(), port_file);
        for (long served = 0; max_connections < 0 || served < max_connections; ++served)
            spawn_echo(listener.accept());
    });
}

// One acceptor per worker, each binding its own listener (with SO_REUSEPORT)
// on that worker, so the listener's readiness and its connections stay there.
// Worker 0 binds first: with port 0 the others must reuse the port it got.
void serve_workers(const std::string& where, const std::string& port_file, long max_connections,
                   unsigned workers) {
    weft::runtime rt{{.workers = workers}};
    std::vector<long> served(workers, 0);  // each slot written by its own acceptor only
    rt.run([&] {
        const weft::net::listen_options opts{.reuse_port = true};
        std::string at = where;  // then the address the first listener got, as a string
        weft::channel<weft::net::address> bound(1);  // closed by an acceptor that could not bind
        weft::event start;     // every listener is bound
        weft::event finished;  // the connection limit was reached, or an acceptor failed
        std::atomic<long> accepted{0};
        weft::net::address first;  // where the first listener is bound
        // Only this fiber touches the handles: a handle is not for sharing
        // between fibers (one being joined is no longer joinable).
        std::vector<weft::fiber_handle> acceptors;
        acceptors.reserve(workers);
        auto stop_acceptors = [&] {
            std::exception_ptr first;
            for (auto& a : acceptors) a.cancel();
            for (auto& a : acceptors) {
                try {
                    a.join();
                } catch (const std::system_error& e) {
                    if (e.code() != std::errc::operation_canceled && !first) first = std::current_exception();
                } catch (...) {
                    if (!first) first = std::current_exception();
                }
            }
            if (first) std::rethrow_exception(first);
        };
        for (unsigned w = 0; w < workers; ++w) {
            acceptors.push_back(weft::spawn_on(static_cast<int>(w), [&, w] {
                weft::net::tcp_listener listener;
                try {
                    listener = weft::net::tcp_listener::bind(at, opts);
                } catch (...) {
                    bound.close();
                    throw;
                }
                bound.send(listener.local_address());
                start.wait();
                try {
                    for (;;) {
                        std::error_code ec;
                        weft::net::tcp_stream conn = listener.accept(ec);
                        if (ec == std::errc::operation_canceled) break;  // stop_acceptors()
                        if (ec) throw std::system_error(ec, "accept");
                        const long n = ++accepted;
                        if (max_connections >= 0 && n > max_connections) break;  // raced past the limit
                        ++served[w];
                        spawn_echo(std::move(conn));
                        if (n == max_connections) {
                            finished.set();
                            break;
                        }
                    }
                } catch (...) {
                    finished.set();
                    throw;
                }
            }, {.name = "acceptor"}));
            auto got = bound.recv();
            if (!got) {  // that acceptor's join rethrows why it could not bind
                stop_acceptors();
                throw std::runtime_error("an acceptor could not bind");
            }
            // Later listeners bind the address and port the first one got
            // ("[::]:P" from ":0" stays dual-stack).
            at = got->to_string();
            if (w == 0) first = *got;
        }
        announce(first, port_file);
        start.set();
        finished.wait();
        stop_acceptors();
    });
    std::printf("echo_server: connections per worker:");
    for (long n : served) std::printf(" %ld", n);
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::string where = "127.0.0.1:7000";
    std::string port_file;
    long max_connections = -1;
    long workers = 1;
    bool have_where = false;
    example_args::parser args("echo_server", usage, argc, argv);
    while (const char* a = args.next()) {
        const std::string_view arg = a;
        if (arg == "--port-file") port_file = args.value(a);
        else if (arg == "--max-connections") max_connections = args.number(a, 1, 1L << 40);
        else if (arg == "--workers") workers = args.number(a, 1, 1024);
        else if (!args.is_flag(a) && !have_where) {
            where = a;
            have_where = true;
        } else {
            args.unknown(a);
        }
    }
    try {
        if (workers == 1) serve_one_worker(where, port_file, max_connections);
        else serve_workers(where, port_file, max_connections, static_cast<unsigned>(workers));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        return 1;
    }
    return 0;
}
