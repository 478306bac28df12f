// Echo client: N connections, each on its own fiber, each sending M messages
// of S bytes and checking every echoed byte.
// Usage: echo_client ADDRESS [--connections N] [--messages M] [--size S]
//   ADDRESS is "host:port": "127.0.0.1:7000", "[::1]:7000", "localhost:7000".
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <weft/weft.hpp>

#include "example_args.hpp"

namespace {
const char usage[] =
    "usage: echo_client ADDRESS [--connections N] [--messages M] [--size S]\n"
    "  ADDRESS          the server, \"host:port\": 127.0.0.1:7000, [::1]:7000, localhost:7000\n"
    "  --connections N  connections at once, each on its own fiber (default 10)\n"
    "  --messages M     messages per connection (default 100)\n"
    "  --size S         bytes per message (default 1000)\n"
    "  --help           this text\n";
}  // namespace

int main(int argc, char** argv) {
    std::string where;
    long connections = 10, messages = 100, size = 1000;
    example_args::parser args("echo_client", usage, argc, argv);
    while (const char* a = args.next()) {
        const std::string_view arg = a;
        if (arg == "--connections") connections = args.number(a, 1, 100'000);
        else if (arg == "--messages") messages = args.number(a, 1, 1'000'000'000);
        else if (arg == "--size") size = args.number(a, 1, 64L << 20);
        else if (!args.is_flag(a) && where.empty()) where = a;
        else args.unknown(a);
    }
    if (where.empty()) args.fail("ADDRESS is missing");
    long bad = 0, bytes = 0, failed = 0;
    std::string first_error;  // of the first connection that failed
    std::error_code first_code;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        weft::run([&] {
            std::vector<weft::fiber_handle> clients;
            for (long c = 0; c < connections; ++c)
                clients.push_back(weft::spawn([&, c] {
                    // Each client reports its own failure, so that every
                    // handle is joined and the others carry on.
                    try {
                        weft::deadline_scope limit{std::chrono::seconds(30)};  // never hang the demo
                        auto conn = weft::net::tcp_stream::connect(where);
                        conn.set_nodelay(true);
                        std::vector<char> out(static_cast<std::size_t>(size)), in(out.size());
                        for (long m = 0; m < messages; ++m) {
                            for (std::size_t k = 0; k < out.size(); ++k)
                                out[k] = static_cast<char>((c * 31 + m * 7 + k) & 0xff);
                            conn.write_all(out.data(), out.size());
                            conn.read_exact(in.data(), in.size());
                            if (in != out) ++bad;
                            bytes += size;
                        }
                    } catch (const std::system_error& e) {
                        if (failed++ == 0) {
                            first_error = "connection " + std::to_string(c) + ": " + e.what();
                            first_code = e.code();
                        }
                    } catch (const std::exception& e) {
                        if (failed++ == 0) first_error = "connection " + std::to_string(c) + ": " + e.what();
                    }
                }, {.name = "client"}));
            for (auto& h : clients) h.join();
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_client: %s\n", e.what());
        return 1;
    }
    if (failed == connections && first_code == std::errc::invalid_argument)
        args.fail("ADDRESS '" + where + "' is not \"host:port\"");
    if (failed > 0) {
        std::fprintf(stderr, "echo_client: %ld of %ld connections failed; %s\n", failed, connections,
                     first_error.c_str());
        return 1;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("echo_client: %ld connections x %ld messages x %ld bytes echoed in %.3f s, %ld mismatches\n",
                connections, messages, size, s, bad);
    std::printf(bad == 0 ? "echo_client: ok, every byte verified\n" : "echo_client: FAILED\n");
    return bad == 0 ? 0 : 1;
}
