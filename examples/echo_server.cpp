// Echo server: one fiber per connection, plain blocking code.
// Usage: echo_server [ADDRESS] [--port-file PATH] [--max-connections N]
//   ADDRESS defaults to 127.0.0.1:7000; port 0 picks a free port. With
//   --max-connections the server exits after serving N connections.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include <weft/weft.hpp>

int main(int argc, char** argv) {
    std::string where = "127.0.0.1:7000";
    std::string port_file;
    long max_connections = -1;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) port_file = argv[++i];
        else if (std::strcmp(argv[i], "--max-connections") == 0 && i + 1 < argc) max_connections = std::atol(argv[++i]);
        else where = argv[i];
    }
    try {
        weft::run([&] {
            auto listener = weft::net::tcp_listener::bind(weft::net::address::parse(where));
            const auto bound = listener.local_address();
            std::printf("echo_server: listening on %s\n", bound.to_string().c_str());
            std::fflush(stdout);
            if (!port_file.empty()) std::ofstream(port_file) << bound.port() << "\n";
            for (long served = 0; max_connections < 0 || served < max_connections; ++served) {
                weft::net::tcp_stream conn = listener.accept();
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
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        return 1;
    }
    return 0;
}
