// tls_context on OpenSSL 3, tls_errc's category, and the reasons OpenSSL
// gives for failures.
#include "weft/net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "net/stream_io.hpp"
#include "net/tls_internal.hpp"
#include "weft/fiber_local.hpp"

namespace weft::detail::tls {

std::string drain_errors() {
    std::string out;
    char buf[256];
    for (unsigned long e; (e = ERR_get_error()) != 0;) {
        // The reason alone reads best ("certificate verify failed"); the
        // library and function are noise to the caller.
        const char* reason = ERR_reason_error_string(e);
        if (reason) {
            std::snprintf(buf, sizeof buf, "%s", reason);
        } else {
            ERR_error_string_n(e, buf, sizeof buf);
        }
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

namespace {
weft::fiber_local<std::string>& last_error() {
    static weft::fiber_local<std::string> last;
    return last;
}
}  // namespace

void remember(const std::error_code& ec, const std::string& why) {
    if (ec && !why.empty()) last_error().get() = why;
}

void throw_tls(const std::error_code& ec, const std::string& what, const std::string& why) {
    throw std::system_error(ec, why.empty() ? what : what + ": " + why);
}

}  // namespace weft::detail::tls

namespace weft::net {

namespace {

SSL_CTX* as_ctx(void* p) { return static_cast<SSL_CTX*>(p); }

// The server's ALPN list (wire format) lives with its SSL_CTX, so it outlasts
// every tls_context copy and every handshake still running.
void free_alpn(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); }

int alpn_index() {
    static const int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_alpn);
    return idx;
}

int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
    const auto* mine = static_cast<const std::string*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_index()));
    if (!mine || mine->empty()) return SSL_TLSEXT_ERR_NOACK;
    unsigned char* chosen = nullptr;
    // The server's order of preference: the first of its names the client offers.
    if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(mine->data()),
                              static_cast<unsigned>(mine->size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

// A new SSL_CTX with what both sides share: TLS 1.2 at least, no
// renegotiation (it would let a read need a write and the reverse, midway),
// writes that return after one record, and retries that may pass a moved buffer.
SSL_CTX* new_ctx(const SSL_METHOD* method, std::error_code& ec, std::string& why) {
    SSL_CTX* c = SSL_CTX_new(method);
    if (!c) {
        why = detail::tls::drain_errors();
        ec = std::make_error_code(std::errc::not_enough_memory);
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return c;
}

// The error of a failed file load: the errno code when the file could not be
// opened (OpenSSL queues it as a system error), else `otherwise`.
std::error_code file_error(tls_errc otherwise, std::string& why) {
    const unsigned long first = ERR_peek_error();
    std::error_code ec = otherwise;
    if (first != 0 && ERR_GET_LIB(first) == ERR_LIB_SYS && ERR_GET_REASON(first) != 0)
        ec = std::error_code(ERR_GET_REASON(first), std::generic_category());
    why = detail::tls::drain_errors();
    return ec;
}

}  // namespace

tls_context tls_context::client(std::error_code& ec) {
    ec.clear();
    std::string why;
    SSL_CTX* c = new_ctx(TLS_client_method(), ec, why);
    if (!c) {
        detail::tls::remember(ec, why);
        return tls_context(nullptr, false);
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    // A host without a CA store still gets a context; load_verify_file can
    // add what it trusts, and a handshake says untrusted_certificate otherwise.
    SSL_CTX_set_default_verify_paths(c);
    ERR_clear_error();
    return tls_context(c, false);
}

tls_context tls_context::client() {
    std::error_code ec;
    tls_context t = client(ec);
    if (ec) detail::tls::throw_tls(ec, "weft::net::tls_context::client", tls_last_error());
    return t;
}

tls_context tls_context::server(const std::string& cert_chain_file, const std::string& private_key_file,
                                std::error_code& ec) {
    ec.clear();
    std::string why;
    ERR_clear_error();
    SSL_CTX* c = new_ctx(TLS_server_method(), ec, why);
    if (c) {
        static const unsigned char sid[] = "weft";
        SSL_CTX_set_session_id_context(c, sid, sizeof sid - 1);
        if (SSL_CTX_use_certificate_chain_file(c, cert_chain_file.c_str()) != 1) {
            ec = file_error(tls_errc::invalid_certificate_file, why);
            why = cert_chain_file + ": " + why;
        } else if (SSL_CTX_use_PrivateKey_file(c, private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
            ec = file_error(tls_errc::invalid_private_key, why);
            why = private_key_file + ": " + why;
        } else if (SSL_CTX_check_private_key(c) != 1) {
            ec = tls_errc::invalid_private_key;
            why = private_key_file + ": " + detail::tls::drain_errors();
        }
    }
    if (ec) {
        SSL_CTX_free(c);
        detail::tls::remember(ec, why);
        return tls_context(nullptr, true);
    }
    return tls_context(c, true);
}

tls_context tls_context::server(const std::string& cert_chain_file, const std::string& private_key_file) {
    std::error_code ec;
    tls_context t = server(cert_chain_file, private_key_file, ec);
    if (ec) detail::tls::throw_tls(ec, "weft::net::tls_context::server", tls_last_error());
    return t;
}

tls_context::tls_context(const tls_context& o) noexcept : ctx_(o.ctx_), server_(o.server_) {
    if (ctx_) SSL_CTX_up_ref(as_ctx(ctx_));
}

tls_context& tls_context::operator=(const tls_context& o) noexcept {
    if (this != &o) {
        if (o.ctx_) SSL_CTX_up_ref(as_ctx(o.ctx_));
        SSL_CTX_free(as_ctx(ctx_));
        ctx_ = o.ctx_;
        server_ = o.server_;
    }
    return *this;
}

tls_context::tls_context(tls_context&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)), server_(o.server_) {}

tls_context& tls_context::operator=(tls_context&& o) noexcept {
    if (this != &o) {
        SSL_CTX_free(as_ctx(ctx_));
        ctx_ = std::exchange(o.ctx_, nullptr);
        server_ = o.server_;
    }
    return *this;
}

tls_context::~tls_context() { SSL_CTX_free(as_ctx(ctx_)); }

void tls_context::load_verify_file(const std::string& path, std::error_code& ec) {
    ec.clear();
    if (!ctx_) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return;
    }
    ERR_clear_error();
    if (SSL_CTX_load_verify_file(as_ctx(ctx_), path.c_str()) != 1) {
        std::string why;
        ec = file_error(tls_errc::invalid_certificate_file, why);
        detail::tls::remember(ec, path + ": " + why);
    }
}

void tls_context::load_verify_file(const std::string& path) {
    std::error_code ec;
    load_verify_file(path, ec);
    if (ec) detail::tls::throw_tls(ec, "weft::net::tls_context::load_verify_file", tls_last_error());
}

void tls_context::set_alpn(std::span<const std::string_view> protocols, std::error_code& ec) {
    ec.clear();
    std::string wire;
    for (std::string_view p : protocols) {
        if (p.empty() || p.size() > 255) {
            ec = std::make_error_code(std::errc::invalid_argument);
            return;
        }
        wire += static_cast<char>(p.size());
        wire += p;
    }
    if (!ctx_) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return;
    }
    SSL_CTX* c = as_ctx(ctx_);
    if (server_) {
        auto* keep = new std::string(std::move(wire));
        delete static_cast<std::string*>(SSL_CTX_get_ex_data(c, alpn_index()));
        SSL_CTX_set_ex_data(c, alpn_index(), keep);
        SSL_CTX_set_alpn_select_cb(c, select_alpn, nullptr);
    } else if (SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(wire.data()),
                                       static_cast<unsigned>(wire.size())) != 0) {  // 0 is success here
        ERR_clear_error();
        ec = std::make_error_code(std::errc::not_enough_memory);
    }
}

void tls_context::set_alpn(std::span<const std::string_view> protocols) {
    std::error_code ec;
    set_alpn(protocols, ec);
    if (ec) detail::throw_error(ec, "weft::net::tls_context::set_alpn");
}

void tls_context::set_alpn(std::initializer_list<std::string_view> protocols) {
    set_alpn(std::span<const std::string_view>(protocols.begin(), protocols.size()));
}

void tls_context::set_verify_peer(bool on) noexcept {
    if (!ctx_) return;
    const int mode = !on ? SSL_VERIFY_NONE : server_ ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER;
    SSL_CTX_set_verify(as_ctx(ctx_), mode, nullptr);
}

// ---- errors -------------------------------------------------------------------

namespace {
class tls_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "weft.tls"; }
    std::string message(int v) const override {
        switch (static_cast<tls_errc>(v)) {
            case tls_errc::handshake_failed: return "TLS handshake failed";
            case tls_errc::untrusted_certificate: return "the peer's TLS certificate is not trusted";
            case tls_errc::hostname_mismatch: return "the peer's TLS certificate is for another host name";
            case tls_errc::protocol_error: return "TLS protocol error";
            case tls_errc::truncated: return "TLS stream truncated: the peer closed the connection without close_notify";
            case tls_errc::invalid_certificate_file: return "not a certificate file OpenSSL can read";
            case tls_errc::invalid_private_key: return "not a private key for the certificate";
        }
        return "unknown weft.tls error";
    }
};
}  // namespace

const std::error_category& tls_category() noexcept {
    static const tls_category_impl cat;
    return cat;
}

std::string tls_last_error() { return detail::tls::last_error().get(); }

}  // namespace weft::net
