// Request parsing (Node's http_parser, Debian libhttp-parser-dev) and the
// answer to each request: "hello" at /, plain files under /static/, else 404.
#include "http_handler.hpp"

#include <sys/stat.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

namespace http_example {

namespace {
// Appended into one string, numbers with std::to_chars: no stream (and its
// locale) per answer.
std::string head(int status, const char* reason, std::uint64_t length, bool keep_alive, const char* type,
                 std::size_t body_room = 0) {
    char num[2][24];
    const auto code = std::to_chars(num[0], num[0] + sizeof num[0], status);
    const auto len = std::to_chars(num[1], num[1] + sizeof num[1], length);
    std::string out;
    out.reserve(128 + body_room);
    out.append("HTTP/1.1 ").append(num[0], code.ptr).append(" ").append(reason);
    out.append("\r\nContent-Type: ").append(type);
    out.append("\r\nContent-Length: ").append(num[1], len.ptr);
    out.append("\r\nConnection: ").append(keep_alive ? "keep-alive" : "close").append("\r\n\r\n");
    return out;
}

std::string response(int status, const char* reason, const std::string& body, bool keep_alive,
                     const char* type = "text/plain") {
    std::string out = head(status, reason, body.size(), keep_alive, type, body.size());
    out.append(body);
    return out;
}
}  // namespace

namespace {
// realpath(3) as a string; empty if path cannot be resolved.
std::string resolved(const std::string& path) {
    char* r = ::realpath(path.c_str(), nullptr);
    if (!r) return {};
    std::string s(r);
    std::free(r);
    return s;
}
}  // namespace

http_session::http_session(const std::string& root, read_file_fn read_file) : read_file_(std::move(read_file)) {
    if (!root.empty()) {
        root_ = resolved(root);
        if (!root_.empty() && root_.back() != '/') root_ += '/';
    }
    if (!read_file_) {
        read_file_ = [](const std::string& path, std::string& body) {
            std::ifstream f(path, std::ios::binary);
            if (!f) return false;
            std::ostringstream os;
            os << f.rdbuf();
            body = os.str();
            return true;
        };
    }
    http_parser_settings_init(&settings_);
    settings_.on_message_begin = on_message_begin;
    settings_.on_url = on_url;
    settings_.on_message_complete = on_message_complete;
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
}

int http_session::on_message_begin(http_parser* p) {
    static_cast<http_session*>(p->data)->started_ = true;
    return 0;
}

int http_session::on_url(http_parser* p, const char* at, std::size_t n) {
    auto* s = static_cast<http_session*>(p->data);
    if (s->url_.size() + n > 8192) return 1;  // absurd URL: a parse error, answered with 400
    s->url_.append(at, n);
    return 0;
}

int http_session::on_message_complete(http_parser* p) {
    static_cast<http_session*>(p->data)->complete_ = true;
    http_parser_pause(p, 1);  // answer this request before parsing a pipelined next one
    return 0;
}

std::string http_session::request_timeout() {
    return response(408, "Request Timeout", "request timeout\n", false);
}

// The file a /static/ name stands for, resolved: it must be a regular file
// and lie inside the root once every symbolic link is followed, so a link in
// the root that points out of it serves nothing.
bool http_session::static_path(const std::string& name, std::string& path) const {
    path = resolved(root_ + name);
    if (path.size() <= root_.size() || path.compare(0, root_.size(), root_) != 0) return false;
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string http_session::file_head(std::uint64_t size, bool keep_alive) {
    return head(200, "OK", size, keep_alive, "application/octet-stream");
}

bool http_session::static_request(std::string& path) const {
    path.clear();
    if (url_.rfind("/static/", 0) != 0 || root_.empty()) return false;
    const std::string name = url_.substr(8);
    // Only plain file names inside the root: no traversal, no hidden files.
    if (name.empty() || name.find("..") != std::string::npos || name.find('/') != std::string::npos ||
        name.front() == '.')
        return true;
    if (!static_path(name, path)) path.clear();
    return true;
}

std::string http_session::route(bool keep_alive) const {
    if (url_ == "/") return response(200, "OK", "hello\n", keep_alive);
    std::string path, body;
    if (static_request(path) && !path.empty() && read_file_(path, body))
        return response(200, "OK", body, keep_alive, "application/octet-stream");
    return response(404, "Not Found", "not found\n", keep_alive);
}

bool http_session::answer(bool keep_alive, const send_fn& send) {
    std::string path;
    if (send_file_ && static_request(path)) {
        if (!path.empty()) {
            switch (send_file_(path, keep_alive)) {
                case file_sent::sent: return true;
                case file_sent::failed: return false;
                case file_sent::not_found: break;
            }
        }
        return send(response(404, "Not Found", "not found\n", keep_alive));
    }
    return send(route(keep_alive));
}

bool http_session::feed(const char* data, std::size_t size, const send_fn& send) {
    if (size == 0) {
        http_parser_execute(&parser_, &settings_, data, 0);  // tell the parser about EOF
        return false;
    }
    std::size_t off = 0;
    while (off < size || complete_) {
        off += http_parser_execute(&parser_, &settings_, data + off, size - off);
        const auto err = HTTP_PARSER_ERRNO(&parser_);
        if (err != HPE_OK && err != HPE_PAUSED) {
            send(response(400, "Bad Request", "bad request\n", false));
            return false;  // after a parse error the stream cannot be trusted: close
        }
        if (!complete_) break;
        const bool keep_alive = http_should_keep_alive(&parser_) != 0;
        ++answered_;
        if (!answer(keep_alive, send) || !keep_alive) return false;
        url_.clear();
        started_ = complete_ = false;
        http_parser_pause(&parser_, 0);
    }
    return true;
}

}  // namespace http_example
