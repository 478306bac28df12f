// libFuzzer target: the HTTP example's request handling
// (examples/http_handler.cpp) on arbitrary bytes, fed in pieces the input
// itself chooses, as reads from a socket would split them. Every answer must
// be a well-formed response whose Content-Length matches its body.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "http_handler.hpp"

namespace {

// A root with one file, so /static/ requests reach the file system.
const std::string& static_root() {
    static const std::string root = [] {
        char dir[] = "/tmp/weft-fuzz-http-XXXXXX";
        if (!::mkdtemp(dir)) std::abort();
        std::ofstream(std::string(dir) + "/file.txt") << "static file body\n";
        return std::string(dir);
    }();
    return root;
}

[[noreturn]] void bad_response(std::string_view r, const char* what) {
    std::fprintf(stderr, "fuzz_http: %s in response:\n%.*s\n", what, static_cast<int>(r.size()), r.data());
    std::abort();
}

void check_response(std::string_view r) {
    if (r.substr(0, 9) != "HTTP/1.1 ") bad_response(r, "no status line");
    const auto head_end = r.find("\r\n\r\n");
    if (head_end == std::string_view::npos) bad_response(r, "no end of headers");
    const std::string_view head = r.substr(0, head_end);
    const auto cl = head.find("\r\nContent-Length: ");
    if (cl == std::string_view::npos) bad_response(r, "no Content-Length");
    const std::size_t length = std::strtoul(std::string(head.substr(cl + 18)).c_str(), nullptr, 10);
    if (r.size() - head_end - 4 != length) bad_response(r, "Content-Length differs from the body");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The first byte picks the size of the pieces (1..64 bytes; 0: all at once).
    std::size_t piece = size;
    if (size > 0) {
        piece = data[0] % 65;
        ++data;
        --size;
        if (piece == 0) piece = size;
    }
    http_example::http_session session(static_root());
    std::size_t responses = 0;
    bool closed = false;
    const auto send = [&](std::string_view r) {
        if (closed) bad_response(r, "an answer after the connection was closed");
        check_response(r);
        ++responses;
        return true;
    };
    const char* p = reinterpret_cast<const char*>(data);
    for (std::size_t off = 0; off < size && !closed;) {
        const std::size_t n = std::min(piece == 0 ? size : piece, size - off);
        closed = !session.feed(p + off, n, send);
        off += n;
    }
    if (!closed) session.feed(p, 0, send);  // the peer closes
    // Each answer needs at least one byte of request.
    if (responses > size) std::abort();
    return 0;
}
