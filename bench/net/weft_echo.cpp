// weft's entry: one fiber per connection on weft::run (a single worker
// thread), plain blocking reads and writes. Same loop as examples/echo_server,
// plus TCP_NODELAY like the other servers and the port argument they take.
// Usage: weft_echo [PORT] [--port-file PATH] [--buf BYTES | --pooled]
//   default: a 16 KiB buffer on each connection's fiber stack.
//   --buf BYTES: a buffer of that size per connection on the heap, zeroed
//     when the connection starts (what go_echo --buf does with make()).
//   --pooled: no buffer per connection: read_pooled() leases one of the
//     worker's pool only while data is in hand (bench/run-conns.sh).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <weft/weft.hpp>

#include "server_common.hpp"

namespace {

enum class mode { stack, heap, pooled };

void echo_loop(weft::net::tcp_stream& conn, char* buf, std::size_t size) {
    std::error_code ec;
    for (;;) {
        const std::size_t n = conn.read(buf, size, ec);
        if (ec || n == 0) return;  // error or the client closed
        conn.write_all(buf, n, ec);
        if (ec) return;
    }
}

// Each mode in its own frame, so the pooled one carries no unused array.
__attribute__((noinline)) void serve_stack(weft::net::tcp_stream& conn) {
    char buf[16 * 1024];
    echo_loop(conn, buf, sizeof buf);
}

__attribute__((noinline)) void serve_heap(weft::net::tcp_stream& conn, std::size_t size) {
    std::unique_ptr<char[]> buf(new char[size]());
    echo_loop(conn, buf.get(), size);
}

__attribute__((noinline)) void serve_pooled(weft::net::tcp_stream& conn) {
    std::error_code ec;
    for (;;) {
        weft::net::pooled_buffer b = conn.read_pooled(ec);
        if (ec || b.empty()) return;  // error or the client closed
        conn.write_all(b.data(), b.size(), ec);
        if (ec) return;
    }
}

void serve(weft::net::tcp_stream& conn, mode m, std::size_t heap_size) {
    switch (m) {
        case mode::stack: return serve_stack(conn);
        case mode::heap: return serve_heap(conn, heap_size);
        case mode::pooled: return serve_pooled(conn);
    }
}

}  // namespace

int main(int argc, char** argv) {
    // weft_echo's own flags first; the rest are every server's (server_common.hpp).
    mode m = mode::stack;
    std::size_t heap_size = 0;
    std::vector<char*> rest{argv[0]};
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--pooled") == 0) {
            m = mode::pooled;
        } else if (std::strcmp(argv[i], "--buf") == 0 && i + 1 < argc) {
            m = mode::heap;
            heap_size = static_cast<std::size_t>(std::atol(argv[++i]));
            if (heap_size == 0) {
                std::fprintf(stderr, "weft_echo: --buf needs a size in bytes\n");
                return 2;
            }
        } else {
            rest.push_back(argv[i]);
        }
    }
    const auto args = netbench::parse_server_args("weft_echo", static_cast<int>(rest.size()), rest.data());
    try {
        weft::run([&] {
            auto listener = weft::net::tcp_listener::bind(
                weft::net::address::parse("127.0.0.1:" + std::to_string(args.port)));
            netbench::report_port("weft_echo", args, listener.local_address().port());
            for (;;) {
                weft::net::tcp_stream conn = listener.accept();
                std::error_code ec;
                conn.set_nodelay(true, ec);
                weft::spawn([conn = std::move(conn), m, heap_size]() mutable { serve(conn, m, heap_size); },
                            {.name = "echo-conn"}).detach();
            }
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "weft_echo: %s\n", e.what());
        return 1;
    }
}
