// The HTTP example's request handling, apart from sockets: bytes in,
// responses out. The server (http_server.cpp) and its fuzzer
// (tests/fuzz/fuzz_http.cpp) both drive it.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
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
    // fuzzer), std::ifstream on the calling thread. The path it gets has no
    // symbolic link in it (resolved, and checked to be a regular file
    // inside the root); a reader should open it with O_NOFOLLOW, so a link
    // put in its place meanwhile is refused.
    using read_file_fn = std::function<bool(const std::string& path, std::string& body)>;

    // root: the directory served under /static/ (empty, or one that cannot
    // be resolved: no static files). A name under it that resolves outside
    // it (a symbolic link out) or to anything but a regular file (a
    // directory, a FIFO) is a 404.
    explicit http_session(const std::string& root, read_file_fn read_file = {});
    http_session(const http_session&) = delete;
    http_session& operator=(const http_session&) = delete;

    // Sends each response through send(), which returns false when it could
    // not be written. Returns false once the connection is to be closed: a
    // parse error (answered with 400), a request that does not keep the
    // connection alive, a failed send, or size == 0 (the peer closed).
    using send_fn = std::function<bool(std::string_view)>;

    // A server that sends static files itself (plain HTTP: sendfile(2) from
    // the file to the socket, no copy through user space) sets this. It gets
    // the resolved path (open it with O_NOFOLLOW, as read_file_fn), sends
    // file_head(size, keep_alive) and then the file's bytes, and says how it
    // went; read_file_fn then serves no static file.
    enum class file_sent { not_found, sent, failed };  // not_found: a 404 follows; failed: close
    using send_file_fn = std::function<file_sent(const std::string& path, bool keep_alive)>;
    void set_send_file(send_file_fn fn) { send_file_ = std::move(fn); }
    // The head of a 200 answer with a file of that size as its body.
    static std::string file_head(std::uint64_t size, bool keep_alive);
    bool feed(const char* data, std::size_t size, const send_fn& send);

    // Whether the first bytes of a request have come and it is not answered
    // yet: the server gives such a request a deadline of its own, counted
    // from when this turned true, however the bytes trickle in.
    bool mid_request() const noexcept { return started_ && !complete_; }
    // Requests answered so far: a change means the connection went idle
    // (or on to a pipelined next request).
    unsigned long answered() const noexcept { return answered_; }
    // The answer to a request that did not arrive in time (408; closes).
    static std::string request_timeout();

private:
    static int on_message_begin(http_parser* p);
    static int on_url(http_parser* p, const char* at, std::size_t n);
    static int on_message_complete(http_parser* p);
    std::string route(bool keep_alive) const;
    bool answer(bool keep_alive, const send_fn& send);
    // A /static/ request: true, and path the file to serve (empty: a 404).
    bool static_request(std::string& path) const;
    bool static_path(const std::string& name, std::string& path) const;

    http_parser_settings settings_;
    http_parser parser_;
    std::string root_;  // resolved, with a trailing '/'; empty: no static files
    read_file_fn read_file_;
    send_file_fn send_file_;
    std::string url_;
    bool started_ = false;
    bool complete_ = false;
    unsigned long answered_ = 0;
};

}  // namespace http_example
