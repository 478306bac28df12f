// weft's entry: one fiber per connection on weft::run (a single worker
// thread), plain blocking reads and writes. Same loop as examples/echo_server,
// plus TCP_NODELAY like the other servers and the port argument they take.
// Usage: weft_echo [PORT] [--port-file PATH]
#include <cstdio>
#include <string>

#include <weft/weft.hpp>

#include "server_common.hpp"

int main(int argc, char** argv) {
    const auto args = netbench::parse_server_args("weft_echo", argc, argv);
    try {
        weft::run([&] {
            auto listener = weft::net::tcp_listener::bind(
                weft::net::address::parse("127.0.0.1:" + std::to_string(args.port)));
            netbench::report_port("weft_echo", args, listener.local_address().port());
            for (;;) {
                weft::net::tcp_stream conn = listener.accept();
                std::error_code ec;
                conn.set_nodelay(true, ec);
                weft::spawn([conn = std::move(conn)]() mutable {
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
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "weft_echo: %s\n", e.what());
        return 1;
    }
}
