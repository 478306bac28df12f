// The client of bench/run-conns.sh: opens many connections to an echo
// server, one at a time with blocking sockets, sends one message on each and
// reads its echo back (so every connection's fiber or goroutine has read once
// and waits in its next read), then holds them all open, idle, while the
// script reads the server's memory. Past ~28,000 connections one source
// address runs out of ephemeral ports, so connection i binds 127.0.0.(2 + i / 20000).
// Usage: conns_client --port P [--conns 10000] [--size 64] [--ready-file PATH] [--hold SECONDS]
// Writes the number of connections to the ready file once all are idle, then
// holds them for --hold seconds (default 600) or until it is killed.
// Exits 1 when a connection fails or echoes wrong bytes, 2 on bad arguments or
// when RLIMIT_NOFILE cannot be raised far enough.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "conns_client: %s\nusage: conns_client --port P [--conns N] [--size S] [--ready-file PATH] "
                 "[--hold SECONDS]\n",
                 why);
    std::exit(2);
}

[[noreturn]] void fail(long i, const char* what) {
    std::fprintf(stderr, "conns_client: connection %ld: %s: %s\n", i, what, std::strerror(errno));
    std::exit(1);
}

constexpr long per_source = 20000;  // connections per source address (ephemeral ports: ~28,000)

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    long conns = 10000, size = 64, hold = 600;
    std::string ready_file;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--port") port = std::atoi(val());
        else if (a == "--conns") conns = std::atol(val());
        else if (a == "--size") size = std::atol(val());
        else if (a == "--hold") hold = std::atol(val());
        else if (a == "--ready-file") ready_file = val();
        else usage(("unknown argument " + a).c_str());
    }
    if (port <= 0 || port > 65535) usage("--port needed");
    if (conns <= 0 || size <= 0 || size > 65536 || hold < 0) usage("bad --conns/--size/--hold");
    if (conns / per_source > 250) usage("--conns too large for the 127.0.0.x source addresses");

    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    const rlim_t need = static_cast<rlim_t>(conns) + 64;
    if (rl.rlim_cur < need) {
        if (rl.rlim_max < need) {
            rl.rlim_max = need;  // only with CAP_SYS_RESOURCE
            rl.rlim_cur = need;
            if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
                std::fprintf(stderr, "conns_client: %ld connections need %lu fds; RLIMIT_NOFILE cannot be raised past %lu\n",
                             conns, static_cast<unsigned long>(need), static_cast<unsigned long>(rl.rlim_max));
                return 2;
            }
        } else {
            rl.rlim_cur = need;
            ::setrlimit(RLIMIT_NOFILE, &rl);
        }
    }

    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<int> fds;
    fds.reserve(static_cast<std::size_t>(conns));
    std::vector<unsigned char> out(static_cast<std::size_t>(size)), in(out.size());
    for (long i = 0; i < conns; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) fail(i, "socket");
        const int one = 1;
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);  // the port at connect
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const timeval tv{10, 0};  // bounds connect, send and recv
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + static_cast<std::uint32_t>(i / per_source));
        if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) fail(i, "bind");
        if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) fail(i, "connect");
        for (long k = 0; k < size; ++k) out[static_cast<std::size_t>(k)] = static_cast<unsigned char>((i * 131 + k) % 251);
        if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) fail(i, "send");
        std::size_t got = 0;
        while (got < in.size()) {
            const ssize_t n = ::recv(fd, in.data() + got, in.size() - got, 0);
            if (n <= 0) {
                if (n == 0) errno = ECONNRESET;
                fail(i, "recv");
            }
            got += static_cast<std::size_t>(n);
        }
        if (in != out) {
            errno = EPROTO;
            fail(i, "wrong echo");
        }
        fds.push_back(fd);
    }
    std::printf("conns_client: %ld connections open and idle\n", conns);
    std::fflush(stdout);
    if (!ready_file.empty()) {
        const std::string tmp = ready_file + ".tmp";
        if (FILE* f = std::fopen(tmp.c_str(), "w")) {
            std::fprintf(f, "%ld\n", conns);
            std::fclose(f);
            std::rename(tmp.c_str(), ready_file.c_str());
        }
    }
    for (long s = 0; s < hold; ++s) ::sleep(1);
    for (int fd : fds) ::close(fd);
}
