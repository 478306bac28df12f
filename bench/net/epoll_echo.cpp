// The limit: a raw single-threaded, edge-triggered epoll echo server. Reads until
// EAGAIN, writes each chunk straight back; a short write keeps the rest and
// stops reading that connection until EPOLLOUT drains it.
// Usage: epoll_echo [PORT] [--port-file PATH]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "server_common.hpp"

namespace {

struct conn {
    bool open = false;
    std::string pending;  // echo bytes the kernel has not taken yet
};

std::vector<conn> conns;

void close_conn(int fd) {
    ::close(fd);  // close also drops the fd from the epoll set
    conns[static_cast<std::size_t>(fd)].open = false;
    conns[static_cast<std::size_t>(fd)].pending.clear();
}

// Sends as much of data as the kernel takes; the rest goes to pending.
// Returns false on a hard error.
bool send_or_keep(int fd, conn& c, const char* data, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
        if (w > 0) {
            data += w;
            n -= static_cast<std::size_t>(w);
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c.pending.append(data, n);
            return true;
        }
        return false;
    }
    return true;
}

void serve(int fd) {
    conn& c = conns[static_cast<std::size_t>(fd)];
    if (!c.pending.empty()) {
        std::string rest;
        rest.swap(c.pending);
        if (!send_or_keep(fd, c, rest.data(), rest.size())) return close_conn(fd);
        if (!c.pending.empty()) return;  // still full: wait for EPOLLOUT
    }
    static char buf[16 * 1024];
    for (;;) {
        const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r > 0) {
            if (!send_or_keep(fd, c, buf, static_cast<std::size_t>(r))) return close_conn(fd);
            if (!c.pending.empty()) return;  // back-pressure: resume on EPOLLOUT
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        return close_conn(fd);  // 0: peer closed; other errors: give up
    }
}

}  // namespace

int main(int argc, char** argv) {
    const auto args = netbench::parse_server_args("epoll_echo", argc, argv);
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(static_cast<std::uint16_t>(args.port));
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(lfd, 1024) != 0) {
        std::perror("epoll_echo: bind/listen");
        return 1;
    }
    socklen_t len = sizeof at;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&at), &len);

    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = lfd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    netbench::report_port("epoll_echo", args, ntohs(at.sin_port));

    epoll_event evs[256];
    for (;;) {
        const int n = ::epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::perror("epoll_echo: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; ++i) {
            const int fd = evs[i].data.fd;
            if (fd != lfd) {
                // Edge-triggered EPOLLOUT also fires when an ACK frees send space;
                // with nothing pending that needs no syscall (weft skips it too).
                const bool in = (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0;
                if (in || !conns[static_cast<std::size_t>(fd)].pending.empty()) serve(fd);
                continue;
            }
            for (;;) {  // edge-triggered listener: accept until EAGAIN
                const int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) break;
                ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                if (static_cast<std::size_t>(cfd) >= conns.size()) conns.resize(static_cast<std::size_t>(cfd) + 256);
                conns[static_cast<std::size_t>(cfd)].open = true;
                epoll_event cev{};
                cev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                cev.data.fd = cfd;
                ::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
            }
        }
    }
}
