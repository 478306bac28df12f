// Echo client: N connections, each on its own fiber, each sending M messages
// of S bytes and checking every echoed byte.
// Usage: echo_client ADDRESS [--connections N] [--messages M] [--size S]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <weft/weft.hpp>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: echo_client ADDRESS [--connections N] [--messages M] [--size S]\n");
        return 2;
    }
    const std::string where = argv[1];
    long connections = 10, messages = 100, size = 1000;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--connections") == 0) connections = std::atol(argv[i + 1]);
        else if (std::strcmp(argv[i], "--messages") == 0) messages = std::atol(argv[i + 1]);
        else if (std::strcmp(argv[i], "--size") == 0) size = std::atol(argv[i + 1]);
    }
    if (connections <= 0 || messages <= 0 || size <= 0) {
        std::fprintf(stderr, "echo_client: counts and sizes must be positive\n");
        return 2;
    }
    long bad = 0, bytes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        weft::run([&] {
            const auto to = weft::net::address::parse(where);
            std::vector<weft::fiber_handle> clients;
            for (long c = 0; c < connections; ++c)
                clients.push_back(weft::spawn([&, c] {
                    weft::deadline_scope limit{std::chrono::seconds(30)};  // never hang the demo
                    auto conn = weft::net::tcp_stream::connect(to);
                    conn.set_nodelay(true);
                    std::vector<char> out(static_cast<std::size_t>(size)), in(out.size());
                    for (long m = 0; m < messages; ++m) {
                        for (std::size_t k = 0; k < out.size(); ++k) out[k] = static_cast<char>((c * 31 + m * 7 + k) & 0xff);
                        conn.write_all(out.data(), out.size());
                        conn.read_exact(in.data(), in.size());
                        if (in != out) ++bad;
                        bytes += size;
                    }
                }, {.name = "client"}));
            for (auto& h : clients) h.join();
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_client: %s\n", e.what());
        return 1;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("echo_client: %ld connections x %ld messages x %ld bytes echoed in %.3f s, %ld mismatches\n",
                connections, messages, size, s, bad);
    std::printf(bad == 0 ? "echo_client: ok, every byte verified\n" : "echo_client: FAILED\n");
    return bad == 0 ? 0 : 1;
}
