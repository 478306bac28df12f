// HTTP/1.1 server on fibers: keep-alive "hello" at / and static files under
// /static/, requests parsed with Node's http_parser (Debian libhttp-parser-dev).
// Usage: http_server [ADDRESS] [--root DIR] [--port-file PATH]
#include <http_parser.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <weft/weft.hpp>

namespace {

struct request {
    std::string url;
    bool complete = false;
};

struct connection_state {
    request req;
    std::string root;
};

int on_url(http_parser* p, const char* at, std::size_t n) {
    auto* st = static_cast<connection_state*>(p->data);
    if (st->req.url.size() + n > 8192) return 1;  // absurd URL: a parse error, answered with 400
    st->req.url.append(at, n);
    return 0;
}

int on_message_complete(http_parser* p) {
    static_cast<connection_state*>(p->data)->req.complete = true;
    http_parser_pause(p, 1);  // answer this request before parsing a pipelined next one
    return 0;
}

std::string response(int status, const char* reason, const std::string& body, bool keep_alive,
                     const char* type = "text/plain") {
    std::ostringstream os;
    os << "HTTP/1.1 " << status << ' ' << reason << "\r\nContent-Type: " << type
       << "\r\nContent-Length: " << body.size() << "\r\nConnection: " << (keep_alive ? "keep-alive" : "close")
       << "\r\n\r\n"
       << body;
    return os.str();
}

std::string route(const connection_state& st, bool keep_alive) {
    const std::string& url = st.req.url;
    if (url == "/") return response(200, "OK", "hello\n", keep_alive);
    if (url.rfind("/static/", 0) == 0 && !st.root.empty()) {
        const std::string name = url.substr(8);
        // Only plain file names inside the root: no traversal, no hidden files.
        if (name.empty() || name.find("..") != std::string::npos || name.find('/') != std::string::npos ||
            name.front() == '.')
            return response(404, "Not Found", "not found\n", keep_alive);
        std::ifstream f(st.root + "/" + name, std::ios::binary);
        if (!f) return response(404, "Not Found", "not found\n", keep_alive);
        std::ostringstream body;
        body << f.rdbuf();
        return response(200, "OK", body.str(), keep_alive, "application/octet-stream");
    }
    return response(404, "Not Found", "not found\n", keep_alive);
}

void serve(weft::net::tcp_stream conn, const std::string& root) {
    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_message_complete = on_message_complete;
    http_parser parser;
    http_parser_init(&parser, HTTP_REQUEST);
    connection_state st{{}, root};
    parser.data = &st;
    char buf[8192];
    std::error_code ec;
    for (;;) {
        // Idle keep-alive connections are dropped after a while.
        const std::size_t n = conn.read(buf, sizeof buf, ec, std::chrono::seconds(30));
        if (ec) return;
        std::size_t off = 0;
        if (n == 0) {
            http_parser_execute(&parser, &settings, buf, 0);  // tell the parser about EOF
            return;
        }
        while (off < n || st.req.complete) {
            const std::size_t used = http_parser_execute(&parser, &settings, buf + off, n - off);
            off += used;
            const auto err = HTTP_PARSER_ERRNO(&parser);
            if (err != HPE_OK && err != HPE_PAUSED) {
                const std::string bad = response(400, "Bad Request", "bad request\n", false);
                conn.write_all(bad.data(), bad.size(), ec);
                return;  // after a parse error the stream cannot be trusted: close
            }
            if (!st.req.complete) break;
            const bool keep_alive = http_should_keep_alive(&parser) != 0;
            const std::string out = route(st, keep_alive);
            conn.write_all(out.data(), out.size(), ec);
            if (ec || !keep_alive) return;
            st.req = request{};
            http_parser_pause(&parser, 0);
        }
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
