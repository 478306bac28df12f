// HTTP/1.1 server on fibers: keep-alive "hello" at / and static files under
// /static/; the requests themselves are handled by http_handler.cpp.
// Usage: http_server [ADDRESS] [--root DIR] [--port-file PATH]
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

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

int main(int argc, char** argv) {
    std::string where = "127.0.0.1:8080", root, port_file;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--root") == 0 && i + 1 < argc) root = argv[++i];
        else if (std::strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) port_file = argv[++i];
        else where = argv[i];
    }
    try {
        weft::run([&] {
            auto listener = weft::net::tcp_listener::bind(weft::net::address::parse(where));
            std::printf("http_server: listening on %s\n", listener.local_address().to_string().c_str());
            std::fflush(stdout);
            if (!port_file.empty()) std::ofstream(port_file) << listener.local_address().port() << "\n";
            for (;;) {
                weft::net::tcp_stream conn = listener.accept();
                weft::spawn([c = std::move(conn), &root]() mutable { serve(std::move(c), root); },
                            {.name = "http-conn"})
                    .detach();
            }
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "http_server: %s\n", e.what());
        return 1;
    }
}
