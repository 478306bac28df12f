// A thread-per-connection line server in plain POSIX style: blocking accept,
// read and write, one thread per client. Each line is answered with itself;
// "PING" with "PONG", "SLEEP <ms>" with "OK" after a sleep, "QUIT" closes.
// The same source builds twice: with std::thread, and with LEGACY_PORT_WEFT
// defined, with weft::thread and weft::hook, where every connection is a fiber.
// Usage: legacy_server [PORT] [--port-file PATH]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

// The whole port: the thread type, and main's body entering weft::run below.
#ifdef LEGACY_PORT_WEFT
#include <weft/thread.hpp>
#include <weft/run.hpp>
using thread_type = weft::thread;
#else
#include <thread>
using thread_type = std::thread;
#endif

namespace {

bool write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        const ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

// The answer to one line (with its '\n'); false to close the connection.
bool answer(const std::string& line, std::string& out) {
    if (line == "QUIT\n") return false;
    if (line == "PING\n") {
        out += "PONG\n";
    } else if (line.compare(0, 6, "SLEEP ") == 0) {
        usleep(static_cast<useconds_t>(std::atoi(line.c_str() + 6)) * 1000);
        out += "OK\n";
    } else {
        out += line;
    }
    return true;
}

void serve(int fd) {
    char buf[4096];
    std::string pending, out;
    bool open = true;
    while (open) {
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pending.append(buf, static_cast<size_t>(n));
        size_t start = 0, nl;
        out.clear();
        while (open && (nl = pending.find('\n', start)) != std::string::npos) {
            open = answer(pending.substr(start, nl - start + 1), out);
            start = nl + 1;
        }
        pending.erase(0, start);
        if (!out.empty() && !write_all(fd, out.data(), out.size())) break;
    }
    close(fd);
}

const char usage[] =
    "usage: legacy_server [PORT] [--port-file PATH]\n"
    "  PORT              the port on 127.0.0.1 (0 to 65535, default 7100; 0 picks a free one)\n"
    "  --port-file PATH  write the port to PATH once listening\n"
    "  --help            this text\n";

int usage_error(const char* what, const char* arg) {
    std::fprintf(stderr, "legacy_server: %s '%s'\n%s", what, arg, usage);
    return 2;
}

int legacy_main(int argc, char** argv) {
    int port = 7100;
    const char* port_file = nullptr;
    bool have_port = false;
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        if (std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0) {
            std::fputs(usage, stdout);
            return 0;
        }
        if (std::strcmp(a, "--port-file") == 0) {
            if (i + 1 >= argc) return usage_error("a value is missing after", a);
            port_file = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option", a);
        } else {
            char* end = nullptr;
            errno = 0;
            const long v = std::strtol(a, &end, 10);
            if (have_port || *a < '0' || *a > '9' || *end != '\0' || errno != 0 || v < 0 || v > 65535)
                return usage_error(have_port ? "unexpected argument" : "PORT needs a number from 0 to 65535, not", a);
            port = static_cast<int>(v);
            have_port = true;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) { perror("legacy_server: socket"); return 1; }
    const int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, SOMAXCONN) != 0) {
        perror("legacy_server: bind/listen");
        return 1;
    }
    socklen_t len = sizeof addr;
    getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    std::printf("legacy_server: listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    std::fflush(stdout);
    if (port_file) {
        if (FILE* f = std::fopen(port_file, "w")) {
            std::fprintf(f, "%d\n", ntohs(addr.sin_port));
            std::fclose(f);
        }
    }

    for (;;) {
        const int conn = accept(listener, nullptr, nullptr);
        if (conn < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
                usleep(10000);  // out of fds: let connections finish
            } else if (errno != EINTR && errno != ECONNABORTED) {
                perror("legacy_server: accept");
            }
            continue;
        }
        setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        try {
            thread_type(serve, conn).detach();
        } catch (const std::system_error& e) {
            std::fprintf(stderr, "legacy_server: no thread for a connection: %s\n", e.what());
            close(conn);
        }
    }
}

}  // namespace

#ifdef LEGACY_PORT_WEFT
int main(int argc, char** argv) {
    int rc = 0;
    weft::run([&] { rc = legacy_main(argc, argv); });
    return rc;
}
#else
int main(int argc, char** argv) { return legacy_main(argc, argv); }
#endif
