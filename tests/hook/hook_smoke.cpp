// A small hooked program, linked once dynamically and once statically: a
// thread-per-connection echo over loopback in plain POSIX calls on
// weft::threads, with a name lookup and sleeps. The hooks must work in both
// links: every read parks its fiber (the peak of fibers blocked in read at
// one moment equals the number of connections), and every echo is checked.
// Usage: hook_smoke [CONNECTIONS]
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <weft/run.hpp>
#include <weft/thread.hpp>

#ifndef HOOK_SMOKE_LINK
#define HOOK_SMOKE_LINK "dynamic"
#endif

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 200;
    int failures = 0, echoed = 0, blocked = 0, peak = 0;
    weft::run([&] {
        // A numeric lookup: works in a static program too (no NSS module needed).
        addrinfo hints{};
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST;
        addrinfo* res = nullptr;
        if (getaddrinfo("127.0.0.1", "0", &hints, &res) != 0) {
            std::fprintf(stderr, "hook_smoke: getaddrinfo failed\n");
            ++failures;
            return;
        }
        const int l = socket(AF_INET, SOCK_STREAM, 0);
        if (bind(l, res->ai_addr, res->ai_addrlen) != 0 || listen(l, 1024) != 0) {
            std::perror("hook_smoke: bind/listen");
            ++failures;
            return;
        }
        freeaddrinfo(res);
        sockaddr_in addr{};
        socklen_t len = sizeof addr;
        getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len);

        weft::thread acceptor([&] {
            for (int i = 0; i < n; ++i) {
                const int c = accept(l, nullptr, nullptr);
                if (c < 0) {
                    ++failures;
                    return;
                }
                weft::thread([c] {
                    char buf[256];
                    ssize_t r;
                    while ((r = read(c, buf, sizeof buf)) > 0)
                        if (write(c, buf, static_cast<size_t>(r)) != r) break;
                    close(c);
                }).detach();
            }
        });
        std::vector<weft::thread> clients;
        for (int i = 0; i < n; ++i) {
            clients.emplace_back([&, i] {
                const int s = socket(AF_INET, SOCK_STREAM, 0);
                if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
                    ++failures;
                    close(s);
                    return;
                }
                usleep(1000);  // every client connects before any writes
                const std::string msg = "message " + std::to_string(i) + "\n";
                if (write(s, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) ++failures;
                pollfd p{s, POLLIN, 0};
                ++blocked;
                peak = std::max(peak, blocked);
                const int ready = poll(&p, 1, 20000);
                char buf[256];
                const ssize_t r = ready == 1 ? read(s, buf, sizeof buf) : -1;
                --blocked;
                if (r == static_cast<ssize_t>(msg.size()) && std::memcmp(buf, msg.data(), msg.size()) == 0) {
                    ++echoed;
                } else {
                    ++failures;
                }
                close(s);
            });
        }
        for (auto& t : clients) t.join();
        acceptor.join();
        close(l);
    });
    std::printf("hook_smoke (%s link): %d/%d echoes checked, %d failures, peak %d fibers waiting at once\n",
                HOOK_SMOKE_LINK, echoed, n, failures, peak);
    if (failures != 0 || echoed != n || peak < n / 2) {
        std::printf("hook_smoke: FAILED\n");
        return 1;
    }
    std::printf("hook_smoke: ok\n");
    return 0;
}
