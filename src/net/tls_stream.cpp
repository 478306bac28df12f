// tls_stream: OpenSSL on a non-blocking socket. Each OpenSSL call runs
// under the stream's lock; when it asks for readiness (WANT_READ /
// WANT_WRITE) the fiber waits on the poller like any socket call (the ticket
// protocol of reactor/poller.hpp), with the lock released.
#include "weft/net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <mutex>
#include <string>
#include <utility>

#include "net/host_port.hpp"
#include "net/io.hpp"
#include "net/stream_io.hpp"
#include "net/tls_internal.hpp"
#include "weft/sync/mutex.hpp"

namespace weft::net {

struct tls_stream::state {
    tcp_stream sock;
    SSL* ssl = nullptr;
    // Serialises OpenSSL calls (an SSL object is not safe for concurrent
    // use) and close(); held only while OpenSSL runs, never over a wait.
    weft::mutex lock;
    int last_errno = 0;      // what the socket said when the BIO's last call failed
    std::error_code broken;  // the fatal error OpenSSL allows no further calls after
    bool sent_close_notify = false;
    std::string alpn;
    std::string_view version;

    ~state() { SSL_free(ssl); }
};

namespace {

using state = tls_stream::state;

// ---- the socket BIO -----------------------------------------------------------
// OpenSSL's own socket BIO writes with write(2): a peer that reset the
// connection would raise SIGPIPE. This one sends with MSG_NOSIGNAL, as the
// socket calls do, and keeps errno for the error mapping.

int bio_write(BIO* b, const char* data, std::size_t len, std::size_t* written) {
    auto* st = static_cast<state*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    for (;;) {
        const ssize_t n = ::send(st->sock.native_handle(), data, len, MSG_NOSIGNAL);
        if (n >= 0) {
            *written = static_cast<std::size_t>(n);
            return 1;
        }
        if (errno == EINTR) continue;
        st->last_errno = errno;
        if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(b);
        return 0;
    }
}

int bio_read(BIO* b, char* data, std::size_t len, std::size_t* got) {
    auto* st = static_cast<state*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    for (;;) {
        const ssize_t n = ::recv(st->sock.native_handle(), data, len, 0);
        if (n > 0) {
            *got = static_cast<std::size_t>(n);
            return 1;
        }
        if (n == 0) {
            // OpenSSL asks BIO_CTRL_EOF to tell a peer's close from an error.
            BIO_set_flags(b, BIO_FLAGS_IN_EOF);
            *got = 0;
            return 0;
        }
        if (errno == EINTR) continue;
        st->last_errno = errno;
        if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(b);
        return 0;
    }
}

long bio_ctrl(BIO* b, int cmd, long, void* ptr) {
    switch (cmd) {
        case BIO_CTRL_FLUSH: return 1;  // nothing is buffered here
        case BIO_CTRL_EOF: return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
        case BIO_C_GET_FD: {
            const int fd = static_cast<state*>(BIO_get_data(b))->sock.native_handle();
            if (ptr) *static_cast<int*>(ptr) = fd;
            return fd;
        }
        default: return 0;
    }
}

int bio_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

BIO_METHOD* socket_bio() {
    static BIO_METHOD* const m = [] {
        BIO_METHOD* meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weft socket");
        if (!meth) return meth;
        BIO_meth_set_write_ex(meth, bio_write);
        BIO_meth_set_read_ex(meth, bio_read);
        BIO_meth_set_ctrl(meth, bio_ctrl);
        BIO_meth_set_create(meth, bio_create);
        return meth;
    }();
    return m;
}

// ---- one OpenSSL call, to completion ------------------------------------------

enum class phase { handshake, read, write, shutdown };

// The error_code for an OpenSSL call that failed with `err`; why gets
// OpenSSL's reason. Runs under the lock, before anything can switch fibers
// (the error queue belongs to the thread).
std::error_code classify(state& st, int err, phase ph, std::string& why) {
    const bool hs = ph == phase::handshake;
    switch (err) {
        case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
            if (hs) return net_errc::eof;
            if (ph == phase::read) return {};
            return std::make_error_code(std::errc::broken_pipe);
        case SSL_ERROR_SYSCALL:
            why = detail::tls::drain_errors();
            if (st.last_errno != 0) return {st.last_errno, std::generic_category()};
            return hs ? std::error_code(net_errc::eof) : std::error_code(tls_errc::truncated);
        case SSL_ERROR_SSL: {
            // The first error queued is the cause; drain_errors() reads them all.
            const unsigned long e = ERR_peek_error();
            const bool ssl_lib = ERR_GET_LIB(e) == ERR_LIB_SSL;
            const bool eof = ssl_lib && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
            const bool verify = ssl_lib && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED;
            why = detail::tls::drain_errors();
            if (eof) {
                if (st.last_errno != 0) return {st.last_errno, std::generic_category()};
                return hs ? std::error_code(net_errc::eof) : std::error_code(tls_errc::truncated);
            }
            if (verify) {
                const long v = SSL_get_verify_result(st.ssl);
                why += std::string(": ") + X509_verify_cert_error_string(v);
                if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
                    return tls_errc::hostname_mismatch;
                return tls_errc::untrusted_certificate;
            }
            return hs ? tls_errc::handshake_failed : tls_errc::protocol_error;
        }
        default:
            why = detail::tls::drain_errors();
            return hs ? tls_errc::handshake_failed : tls_errc::protocol_error;
    }
}

// Runs op(ssl) until it succeeds (a result > 0), waiting for the direction
// OpenSSL asks for, under deadline `until` (fd_wait checks it, the
// fiber's deadline_scope and cancel, before each wait). Returns op's
// result; <= 0 on failure with ec set, or <= 0 with ec clear for a read that
// met the peer's close_notify.
template <class Op>
int drive(state& st, std::int64_t until, phase ph, std::error_code& ec, std::string& why, Op op) {
    for (;;) {
        int fd, r, err;
        std::uint32_t ticket[2];
        {
            std::lock_guard<weft::mutex> g(st.lock);
            fd = st.sock.native_handle();
            if (fd < 0) {
                ec = std::make_error_code(std::errc::bad_file_descriptor);
                return -1;
            }
            if (st.broken) {
                ec = st.broken;
                return -1;
            }
            ticket[0] = detail::fd_ticket(fd, false);
            ticket[1] = detail::fd_ticket(fd, true);
            ERR_clear_error();
            st.last_errno = 0;
            r = op(st.ssl);
            if (r > 0) {
                ec.clear();
                return r;
            }
            err = SSL_get_error(st.ssl, r);
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                ec = classify(st, err, ph, why);
                // After these OpenSSL allows no further calls but SSL_free.
                if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL) st.broken = ec;
                return r;
            }
        }
        const bool write = err == SSL_ERROR_WANT_WRITE;
        if ((ec = detail::fd_wait(fd, write, ticket[write ? 1 : 0], until))) return -1;
    }
}

// Checks the start of a stream call: an open stream, on a fiber. The
// deadline and cancel are left to the waits (drive's fd_wait), as for every
// socket call: what OpenSSL can do with the bytes it has, or the room the
// socket has, is done even when the deadline has passed.
bool begin(const std::unique_ptr<state>& s, std::error_code& ec) {
    ec.clear();
    if (!s || !s->sock.is_open()) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return false;
    }
    detail::require_fiber("a blocking socket call");
    return true;
}

bool is_ip_literal(std::string_view host) {
    std::string h(host);
    unsigned char buf[16];
    return ::inet_pton(AF_INET, h.c_str(), buf) == 1 || ::inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// The stream's state around a socket, with an SSL object on the weft BIO.
std::unique_ptr<state> new_state(tcp_stream&& sock, const tls_context& ctx, std::error_code& ec, std::string& why) {
    auto st = std::make_unique<state>();
    st->sock = std::move(sock);
    if (!st->sock.is_open()) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return nullptr;
    }
    if (!ctx.native_handle()) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return nullptr;
    }
    ERR_clear_error();
    st->ssl = SSL_new(static_cast<SSL_CTX*>(ctx.native_handle()));
    BIO* b = st->ssl && socket_bio() ? BIO_new(socket_bio()) : nullptr;
    if (!b) {
        why = detail::tls::drain_errors();
        ec = std::make_error_code(std::errc::not_enough_memory);
        return nullptr;
    }
    BIO_set_data(b, st.get());
    SSL_set_bio(st->ssl, b, b);  // one BIO both ways: the SSL owns its one reference
    return st;
}

std::unique_ptr<state> handshake(std::unique_ptr<state> st, std::int64_t until, std::error_code& ec,
                                 std::string& why) {
    drive(*st, until, phase::handshake, ec, why, [](SSL* ssl) { return SSL_do_handshake(ssl); });
    if (ec) return nullptr;
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(st->ssl, &proto, &len);
    if (proto) st->alpn.assign(reinterpret_cast<const char*>(proto), len);
    st->version = SSL_get_version(st->ssl);
    return st;
}

// The start of a handshake, either side: an open stream, a call that may
// start (a handshake always waits: the deadline and cancel are checked now),
// and the SSL object on it.
std::unique_ptr<state> start(tcp_stream&& s, const tls_context& ctx, std::error_code& ec, std::int64_t& until,
                             std::string& why) {
    ec.clear();
    if (!s.is_open()) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return nullptr;
    }
    if ((ec = detail::begin_socket_call(until))) return nullptr;
    return new_state(std::move(s), ctx, ec, why);
}

std::unique_ptr<state> client(tcp_stream&& s, const tls_context& ctx, std::string_view name, std::error_code& ec,
                              deadline d, std::string& why) {
    std::int64_t until = d.steady_ns();
    std::unique_ptr<state> st = start(std::move(s), ctx, ec, until, why);
    if (!st) return nullptr;
    // "[::1]", as connect's host_port spells it, names the address inside.
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
    if (!name.empty()) {
        const std::string host(name);
        bool ok;
        if (is_ip_literal(name)) {
            // RFC 6066: no SNI for an address; the certificate must list it as an IP SAN.
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(st->ssl), host.c_str()) == 1;
        } else {
            ok = SSL_set_tlsext_host_name(st->ssl, host.c_str()) == 1 && SSL_set1_host(st->ssl, host.c_str()) == 1;
        }
        if (!ok) {
            why = detail::tls::drain_errors();
            ec = std::make_error_code(std::errc::invalid_argument);
            return nullptr;
        }
    }
    SSL_set_connect_state(st->ssl);
    return handshake(std::move(st), until, ec, why);
}

std::unique_ptr<state> server(tcp_stream&& s, const tls_context& ctx, std::error_code& ec, deadline d,
                              std::string& why) {
    std::int64_t until = d.steady_ns();
    std::unique_ptr<state> st = start(std::move(s), ctx, ec, until, why);
    if (!st) return nullptr;
    SSL_set_accept_state(st->ssl);
    return handshake(std::move(st), until, ec, why);
}

std::unique_ptr<state> dial(std::string_view host_port, const tls_context& ctx, std::error_code& ec, deadline d,
                            std::string& why) {
    ec.clear();
    detail::host_port hp;
    if (!detail::split_host_port(host_port, hp, ec)) return nullptr;
    // One deadline for the lookup, the connect and the handshake.
    std::int64_t until = d.steady_ns();
    if ((ec = detail::begin_socket_call(until))) return nullptr;
    const deadline all(std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(until))));
    tcp_stream s = tcp_stream::connect(host_port, ec, all);
    if (ec) return nullptr;
    return client(std::move(s), ctx, hp.host, ec, all, why);
}

}  // namespace

// ---- tls_stream ---------------------------------------------------------------

tls_stream::tls_stream() noexcept = default;
tls_stream::tls_stream(std::unique_ptr<state> s) noexcept : s_(std::move(s)) {}
tls_stream::tls_stream(tls_stream&& o) noexcept = default;
tls_stream& tls_stream::operator=(tls_stream&& o) noexcept {
    if (this != &o) {
        close();
        s_ = std::move(o.s_);
    }
    return *this;
}
tls_stream::~tls_stream() { close(); }

tls_stream tls_stream::connect(std::string_view host_port, const tls_context& ctx, std::error_code& ec, deadline d) {
    std::string why;
    auto st = dial(host_port, ctx, ec, d, why);
    detail::tls::remember(ec, why);
    return tls_stream(std::move(st));
}

tls_stream tls_stream::connect(std::string_view host_port, const tls_context& ctx, deadline d) {
    std::error_code ec;
    std::string why;
    auto st = dial(host_port, ctx, ec, d, why);
    if (ec) detail::tls::throw_tls(ec, "weft::net::tls_stream::connect to " + quoted(host_port), why);
    return tls_stream(std::move(st));
}

tls_stream tls_stream::handshake_client(tcp_stream&& s, const tls_context& ctx, std::string_view server_name,
                                        std::error_code& ec, deadline d) {
    std::string why;
    auto st = client(std::move(s), ctx, server_name, ec, d, why);
    detail::tls::remember(ec, why);
    return tls_stream(std::move(st));
}

tls_stream tls_stream::handshake_client(tcp_stream&& s, const tls_context& ctx, std::string_view server_name,
                                        deadline d) {
    std::error_code ec;
    std::string why;
    auto st = client(std::move(s), ctx, server_name, ec, d, why);
    if (ec) detail::tls::throw_tls(ec, "weft::net::tls_stream::handshake_client with " + quoted(server_name), why);
    return tls_stream(std::move(st));
}

tls_stream tls_stream::accept(tcp_stream&& s, const tls_context& ctx, std::error_code& ec, deadline d) {
    std::string why;
    auto st = server(std::move(s), ctx, ec, d, why);
    detail::tls::remember(ec, why);
    return tls_stream(std::move(st));
}

tls_stream tls_stream::accept(tcp_stream&& s, const tls_context& ctx, deadline d) {
    std::error_code ec;
    std::string why;
    auto st = server(std::move(s), ctx, ec, d, why);
    if (ec) detail::tls::throw_tls(ec, "weft::net::tls_stream::accept", why);
    return tls_stream(std::move(st));
}

namespace {

std::size_t read_some(const std::unique_ptr<state>& s, void* data, std::size_t size, std::error_code& ec, deadline d,
                      std::string& why) {
    const std::int64_t until = d.steady_ns();
    if (!begin(s, ec) || size == 0) return 0;
    std::size_t got = 0;
    const int r = drive(*s, until, phase::read, ec, why,
                        [&](SSL* ssl) { return SSL_read_ex(ssl, data, size, &got); });
    return r > 0 ? got : 0;
}

std::size_t write_some(const std::unique_ptr<state>& s, const void* data, std::size_t size, std::error_code& ec,
                       deadline d, std::string& why) {
    const std::int64_t until = d.steady_ns();
    if (!begin(s, ec) || size == 0) return 0;
    {
        // After our close_notify, as after a TCP half-close: broken_pipe.
        std::lock_guard<weft::mutex> g(s->lock);
        if (s->sent_close_notify) {
            ec = std::make_error_code(std::errc::broken_pipe);
            return 0;
        }
    }
    std::size_t put = 0;
    const int r = drive(*s, until, phase::write, ec, why,
                        [&](SSL* ssl) { return SSL_write_ex(ssl, data, size, &put); });
    return r > 0 ? put : 0;
}

std::size_t read_all(const std::unique_ptr<state>& s, void* data, std::size_t size, std::error_code& ec, deadline d,
                     std::string& why) {
    auto* p = static_cast<char*>(data);
    std::size_t done = 0;
    while (done < size) {
        const std::size_t n = read_some(s, p + done, size - done, ec, d, why);
        if (ec) return done;
        if (n == 0) {
            ec = net_errc::eof;
            return done;
        }
        done += n;
    }
    if (size == 0) begin(s, ec);
    return done;
}

std::size_t write_every(const std::unique_ptr<state>& s, const void* data, std::size_t size, std::error_code& ec,
                        deadline d, std::string& why) {
    const auto* p = static_cast<const char*>(data);
    std::size_t done = 0;
    while (done < size) {
        const std::size_t n = write_some(s, p + done, size - done, ec, d, why);
        if (ec) return done;
        done += n;
    }
    if (size == 0) begin(s, ec);
    return done;
}

void close_notify(const std::unique_ptr<state>& s, std::error_code& ec, deadline d, std::string& why) {
    const std::int64_t until = d.steady_ns();
    if (!begin(s, ec)) return;
    state& st = *s;
    drive(st, until, phase::shutdown, ec, why, [&st](SSL* ssl) {
        // Sent already: done. Calling SSL_shutdown again would wait for the peer's.
        if (st.sent_close_notify) return 1;
        const int r = SSL_shutdown(ssl);
        if (r >= 0) st.sent_close_notify = true;
        return r == 0 ? 1 : r;  // 0: ours is out, the peer's not yet in
    });
}

// The two forms of a stream call: error_code (the reason kept for
// tls_last_error) and throwing (the reason in what()).
template <class Fn>
auto with_ec(std::error_code& ec, Fn fn) {
    std::string why;
    auto r = fn(ec, why);
    detail::tls::remember(ec, why);
    return r;
}
template <class Fn>
auto or_throw(const char* member, Fn fn) {
    std::error_code ec;
    std::string why;
    auto r = fn(ec, why);
    if (ec) detail::tls::throw_tls(ec, std::string("weft::net::tls_stream::") + member, why);
    return r;
}

}  // namespace

std::size_t tls_stream::read(void* data, std::size_t size, std::error_code& ec, deadline d) {
    return with_ec(ec, [&](std::error_code& e, std::string& w) { return read_some(s_, data, size, e, d, w); });
}
std::size_t tls_stream::read(void* data, std::size_t size, deadline d) {
    return or_throw("read", [&](std::error_code& e, std::string& w) { return read_some(s_, data, size, e, d, w); });
}
std::size_t tls_stream::read_exact(void* data, std::size_t size, std::error_code& ec, deadline d) {
    return with_ec(ec, [&](std::error_code& e, std::string& w) { return read_all(s_, data, size, e, d, w); });
}
std::size_t tls_stream::read_exact(void* data, std::size_t size, deadline d) {
    return or_throw("read_exact",
                    [&](std::error_code& e, std::string& w) { return read_all(s_, data, size, e, d, w); });
}
std::size_t tls_stream::write(const void* data, std::size_t size, std::error_code& ec, deadline d) {
    return with_ec(ec, [&](std::error_code& e, std::string& w) { return write_some(s_, data, size, e, d, w); });
}
std::size_t tls_stream::write(const void* data, std::size_t size, deadline d) {
    return or_throw("write", [&](std::error_code& e, std::string& w) { return write_some(s_, data, size, e, d, w); });
}
std::size_t tls_stream::write_all(const void* data, std::size_t size, std::error_code& ec, deadline d) {
    return with_ec(ec, [&](std::error_code& e, std::string& w) { return write_every(s_, data, size, e, d, w); });
}
std::size_t tls_stream::write_all(const void* data, std::size_t size, deadline d) {
    return or_throw("write_all",
                    [&](std::error_code& e, std::string& w) { return write_every(s_, data, size, e, d, w); });
}

void tls_stream::shutdown(std::error_code& ec, deadline d) {
    with_ec(ec, [&](std::error_code& e, std::string& w) {
        close_notify(s_, e, d, w);
        return 0;
    });
}
void tls_stream::shutdown(deadline d) {
    or_throw("shutdown", [&](std::error_code& e, std::string& w) {
        close_notify(s_, e, d, w);
        return 0;
    });
}

std::string_view tls_stream::alpn() const noexcept { return s_ ? std::string_view(s_->alpn) : std::string_view(); }
std::string_view tls_stream::version() const noexcept { return s_ ? s_->version : std::string_view(); }
bool tls_stream::is_open() const noexcept { return s_ && s_->sock.is_open(); }
int tls_stream::native_handle() const noexcept { return s_ ? s_->sock.native_handle() : -1; }

void tls_stream::close() noexcept {
    if (!s_) return;
    // Under the lock: no OpenSSL call is using the socket when it goes, and
    // every later call finds it closed. Fibers waiting on it wake with
    // bad_file_descriptor.
    std::lock_guard<weft::mutex> g(s_->lock);
    s_->sock.close();
}

}  // namespace weft::net
