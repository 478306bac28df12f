// Shared helpers of the TLS tests (tls_test.cpp, tls_errors_test.cpp): a
// test CA and certificates made with the openssl command in a temporary
// directory, contexts that trust them, a fiber that accepts one TLS
// connection, and a real `openssl s_server` to talk to.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "net_test_support.hpp"
#include "weft/weft.hpp"

extern char** environ;

namespace weft_tls_test {

using namespace std::chrono_literals;
using weft::net::address;
using weft::net::tcp_listener;
using weft::net::tcp_stream;
using weft::net::tls_context;
using weft::net::tls_errc;
using weft::net::tls_stream;
using weft_net_test::scoped_fiber;
using weft_net_test::thrown_code;

constexpr auto io_limit = 20s;  // bounds every wait that should succeed

// Files made once per test process and removed when it exits:
//   ca.pem            the test CA (what the clients trust)
//   server.pem/.key   a leaf for DNS:localhost and IP:127.0.0.1, signed by the CA
//   self.pem/.key     a self-signed certificate for the same names (not trusted)
//   garbage.pem       text that is no certificate
struct cert_files {
    std::string dir, ca, server_cert, server_key, self_cert, self_key, garbage;
    bool ok = false;

    cert_files() {
        char tmpl[] = "/tmp/weft-tls-XXXXXX";
        if (!::mkdtemp(tmpl)) return;
        dir = tmpl;
        ca = dir + "/ca.pem";
        server_cert = dir + "/server.pem";
        server_key = dir + "/server.key";
        self_cert = dir + "/self.pem";
        self_key = dir + "/self.key";
        garbage = dir + "/garbage.pem";
        const std::string ec_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        const std::string script =
            "set -e; cd '" + dir + "'\n"
            "openssl req -x509 " + ec_key + " -keyout ca.key -out ca.pem -days 2 -subj '/CN=weft test CA'"
            " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign\n"
            "openssl req -new " + ec_key + " -keyout server.key -out server.csr -subj /CN=localhost\n"
            "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n"
            "extendedKeyUsage=serverAuth\\n' > ext.cnf\n"
            "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem"
            " -days 2 -extfile ext.cnf\n"
            "openssl req -x509 " + ec_key + " -keyout self.key -out self.pem -days 2 -subj /CN=localhost"
            " -addext subjectAltName=DNS:localhost,IP:127.0.0.1\n"
            "echo 'no certificate here' > garbage.pem\n";
        std::ofstream(dir + "/make.sh") << script;
        const std::string cmd = "bash '" + dir + "/make.sh' >'" + dir + "/openssl.log' 2>&1";
        ok = std::system(cmd.c_str()) == 0;
    }
    ~cert_files() {
        std::error_code ec;
        if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
};

inline const cert_files& certs() {
    static const cert_files files;
    return files;
}

// Call first in each test: the files exist, or the test fails saying why.
#define WEFT_NEED_CERTS()                                                              \
    do {                                                                               \
        ASSERT_TRUE(::weft_tls_test::certs().ok) << "openssl could not make the test " \
                                                    "certificates; see its log";        \
    } while (0)

// A client that trusts the test CA (and the system store).
inline tls_context client_ctx() {
    tls_context c = tls_context::client();
    c.load_verify_file(certs().ca);
    return c;
}
inline tls_context server_ctx() { return tls_context::server(certs().server_cert, certs().server_key); }

inline tcp_listener listen_v4() { return tcp_listener::bind(address::loopback_v4(0)); }
inline std::string local(const tcp_listener& l, const char* host = "127.0.0.1") {
    return std::string(host) + ":" + std::to_string(l.local_address().port());
}

// Accepts one connection on l and runs the server handshake, then fn on the
// stream (if it succeeded). The handshake's result lands in *hs_ec.
inline scoped_fiber serve_one(tcp_listener& l, const tls_context& ctx, std::error_code* hs_ec,
                              std::function<void(tls_stream&)> fn = {}) {
    return scoped_fiber([&l, ctx, hs_ec, fn = std::move(fn)] {
        std::error_code ec;
        tcp_stream raw = l.accept(ec, io_limit);
        if (!ec) {
            tls_stream s = tls_stream::accept(std::move(raw), ctx, ec, io_limit);
            if (!ec && fn) fn(s);
        }
        if (hs_ec) *hs_ec = ec;
    });
}

// Reads until close_notify (0) or an error; returns what came, ec says how it ended.
template <class S>
std::string read_to_end(S& s, std::error_code& ec) {
    std::string out;
    char buf[4096];
    for (int i = 0; i < 100000; ++i) {
        const std::size_t n = s.read(buf, sizeof buf, ec, io_limit);
        if (ec || n == 0) return out;
        out.append(buf, n);
    }
    ADD_FAILURE() << "read_to_end: no end after 100000 reads";
    return out;
}

// A free loopback port: bound, read, closed (another process may take it
// meanwhile; the s_server test then fails to start and says so).
inline std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0)
        port = ntohs(sa.sin_port);
    ::close(fd);
    return port;
}

// `openssl s_server` with the test certificate, answering one HTTP request
// with its status page (-www); killed and reaped when this goes away.
class openssl_server {
public:
    explicit openssl_server(std::uint16_t port) : port_(port) {
        const std::string accept = "127.0.0.1:" + std::to_string(port);
        std::vector<std::string> args = {"openssl", "s_server", "-accept", accept, "-cert", certs().server_cert,
                                         "-key", certs().server_key, "-www", "-quiet", "-naccept", "1"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        const std::string log = certs().dir + "/s_server.log";
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        if (posix_spawnp(&pid_, "openssl", &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
        posix_spawn_file_actions_destroy(&fa);
    }
    ~openssl_server() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    openssl_server(const openssl_server&) = delete;
    openssl_server& operator=(const openssl_server&) = delete;

    bool started() const noexcept { return pid_ > 0; }
    std::uint16_t port() const noexcept { return port_; }

private:
    pid_t pid_ = -1;
    std::uint16_t port_;
};

}  // namespace weft_tls_test
