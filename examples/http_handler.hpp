// The HTTP example's request handling, apart from sockets: bytes in,
// responses out. The server (http_server.cpp) and its fuzzer
// (tests/fuzz/fuzz_http.cpp) both drive it.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace http_example {

// One connection's parser and current request. It hands the parser a pointer
// to itself, so it stays where it was made (no copy, no move).
class http_session {
public:
    // Reads a whole file into body; false if it cannot (missing, not a
    // regular file, an I/O error): a 404. The server reads with weft::fs, so
    // a slow disk parks only the connection's fiber; without one (the
    // fuzzer), std::ifstream on the calling thread.
    using read_file_fn = std::function<bool(const std::string& path, std::string& body)>;

    // root: the directory served under /static/ (empty: no static files).
    explicit http_session(std::string root, read_file_fn read_file = {});
    http_session(const http_session&) = delete;
    http_session& operator=(const http_session&) = delete;

    // Sends each response through send(), which returns false when it could
    // not be written. Returns false once the connection is to be closed: a
    // parse error (answered with 400), a request that does not keep the
    // connection alive, a failed send, or size == 0 (the peer closed).
    using send_fn = std::function<bool(std::string_view)>;
    bool feed(const char* data, std::size_t size, const send_fn& send);

private:
    static int on_url(http_parser* p, const char* at, std::size_t n);
    static int on_message_complete(http_parser* p);
    std::string route(bool keep_alive) const;

    http_parser_settings settings_;
    http_parser parser_;
    std::string root_;
    read_file_fn read_file_;
    std::string url_;
    bool complete_ = false;
};

}  // namespace http_example
