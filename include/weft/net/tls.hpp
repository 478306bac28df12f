// TLS on fibers (OpenSSL 3): tls_context holds what a side of a connection
// trusts and presents; tls_stream is an encrypted tcp_stream with the same
// blocking calls, deadlines and cancellation, and models weft::net::stream.
// Part of libweft where OpenSSL 3 was found when weft was built (CMake option
// WEFT_TLS; weft::weft then defines WEFT_HAVE_TLS, and weft/net.hpp includes
// this header). Every call parks only its fiber, through the same poller
// waits as the socket calls.
//
//   auto ctx = weft::net::tls_context::client();            // system CA store
//   auto s = weft::net::tls_stream::connect("example.org:443", ctx, 5s);
//   s.write_all(req.data(), req.size());
//
// Errors: tls_errc below for what is TLS's own, the standard codes for what
// the socket says (connection_reset, timed_out, operation_canceled, ...),
// net_errc::eof for a peer that closes during the handshake. The throwing
// forms put OpenSSL's reason in what(); after an error_code form,
// tls_last_error() gives it.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "weft/deadline.hpp"
#include "weft/net/error.hpp"
#include "weft/net/stream.hpp"
#include "weft/net/tcp.hpp"

namespace weft::net {

enum class tls_errc {
    handshake_failed = 1,      // the peers did not agree: an alert from the peer, no common version or cipher
    untrusted_certificate,     // the peer's chain leads to no trusted CA, or is expired, malformed, ...
    hostname_mismatch,         // the certificate is valid but names another host (or IP address)
    protocol_error,            // a bad record or message after the handshake
    truncated,                 // the peer closed the connection without close_notify
    invalid_certificate_file,  // a certificate or CA file that is not PEM OpenSSL can read
    invalid_private_key,       // a key file OpenSSL cannot read, or a key that does not fit the certificate
};

const std::error_category& tls_category() noexcept;

inline std::error_code make_error_code(tls_errc e) noexcept { return {static_cast<int>(e), tls_category()}; }

// OpenSSL's reason for the calling fiber's (or thread's) last TLS call that
// failed with an error OpenSSL explained ("certificate verify failed:
// self-signed certificate", "tlsv1 alert unknown ca"). Set only on failure:
// read it right after the call.
std::string tls_last_error();

// What one side of TLS connections trusts and presents. Copies share one
// OpenSSL context (SSL_CTX); settings apply to streams made after them, so
// make them before the context is shared between fibers.
class tls_context {
public:
    // A client: TLS 1.2 or later, the system's CA store, the peer's
    // certificate verified and its host name checked.
    static tls_context client();
    static tls_context client(std::error_code& ec);
    // A server presenting the PEM certificate chain (leaf first) and its
    // private key. A missing file gives the errno code (no_such_file_or_directory),
    // an unreadable one invalid_certificate_file / invalid_private_key.
    // Clients are not asked for certificates unless set_verify_peer(true).
    static tls_context server(const std::string& cert_chain_file, const std::string& private_key_file);
    static tls_context server(const std::string& cert_chain_file, const std::string& private_key_file,
                              std::error_code& ec);

    tls_context(const tls_context& o) noexcept;
    tls_context& operator=(const tls_context& o) noexcept;
    tls_context(tls_context&& o) noexcept;
    tls_context& operator=(tls_context&& o) noexcept;
    ~tls_context();

    // Trusts the CA certificates of a PEM file as well (a private CA, tests).
    void load_verify_file(const std::string& path);
    void load_verify_file(const std::string& path, std::error_code& ec);
    // Client: the protocols offered, in order of preference. Server: those it
    // accepts, in its order of preference; the first it shares with the
    // client is selected, and none is selected (no ALPN) when they share none.
    // Each name is 1..255 bytes, else invalid_argument.
    void set_alpn(std::initializer_list<std::string_view> protocols);
    void set_alpn(std::span<const std::string_view> protocols);
    void set_alpn(std::span<const std::string_view> protocols, std::error_code& ec);
    // Client: off accepts any certificate (tests only). Server: on asks every
    // client for a certificate and refuses clients without a trusted one.
    void set_verify_peer(bool on) noexcept;

    bool is_server() const noexcept { return server_; }
    void* native_handle() const noexcept { return ctx_; }  // the SSL_CTX*

private:
    tls_context(void* ctx, bool server) noexcept : ctx_(ctx), server_(server) {}
    void* ctx_ = nullptr;
    bool server_ = false;
};

// A TLS connection over TCP. Move-only; the destructor closes it (without
// close_notify: call shutdown() first for a clean end).
//
// Fibers: one fiber reading and another writing the same stream at once is
// fine (a reader-writer pair is the common shape); calls are serialised
// inside by a weft::mutex held only while OpenSSL runs, never across a wait.
// Two fibers reading at once (or writing at once) get their bytes in no
// useful order, as on a tcp_stream. close() may come from any fiber or
// thread and wakes blocked calls with bad_file_descriptor.
//
// A read, write or shutdown that failed (a timeout included) leaves the
// stream in a state only close() should follow: a TLS record may be half
// sent or half read.
class tls_stream {
public:
    tls_stream() noexcept;
    tls_stream(tls_stream&& o) noexcept;
    tls_stream& operator=(tls_stream&& o) noexcept;
    tls_stream(const tls_stream&) = delete;
    tls_stream& operator=(const tls_stream&) = delete;
    ~tls_stream();

    // Dials "host:port" (as tcp_stream::connect) and runs the client
    // handshake, both under the one deadline. A host name is sent as SNI and
    // checked against the certificate; an IP literal is checked against the
    // certificate's IP addresses and sends no SNI.
    static tls_stream connect(std::string_view host_port, const tls_context& ctx, std::error_code& ec,
                              deadline d = {});
    static tls_stream connect(std::string_view host_port, const tls_context& ctx, deadline d = {});
    // The client handshake on a connected socket, which the stream takes over
    // (closed on failure). server_name as for connect's host ("[::1]" or
    // "::1" for an IPv6 address); empty: no SNI and no name check (the chain
    // is still verified).
    static tls_stream handshake_client(tcp_stream&& s, const tls_context& ctx, std::string_view server_name,
                                       std::error_code& ec, deadline d = {});
    static tls_stream handshake_client(tcp_stream&& s, const tls_context& ctx, std::string_view server_name,
                                       deadline d = {});
    // The server handshake on an accepted socket (closed on failure).
    static tls_stream accept(tcp_stream&& s, const tls_context& ctx, std::error_code& ec, deadline d = {});
    static tls_stream accept(tcp_stream&& s, const tls_context& ctx, deadline d = {});

    // Reads what is there, at least one byte; 0 when the peer sent
    // close_notify. A peer that closes TCP without it gives tls_errc::truncated.
    // As for every stream (weft/net/stream.hpp): bytes OpenSSL has already
    // decrypted, or room to write, are used even past the deadline or after
    // cancel; size 0 returns 0 at once. The handshakes always wait for the
    // peer, so a passed deadline or a pending cancel fails them before they start.
    std::size_t read(void* data, std::size_t size, std::error_code& ec, deadline d = {});
    std::size_t read(void* data, std::size_t size, deadline d = {});
    // Exactly size bytes; net_errc::eof after close_notify, tls_errc::truncated without it.
    std::size_t read_exact(void* data, std::size_t size, std::error_code& ec, deadline d = {});
    std::size_t read_exact(void* data, std::size_t size, deadline d = {});
    // At least one byte, at most one TLS record (16 KiB).
    std::size_t write(const void* data, std::size_t size, std::error_code& ec, deadline d = {});
    std::size_t write(const void* data, std::size_t size, deadline d = {});
    std::size_t write_all(const void* data, std::size_t size, std::error_code& ec, deadline d = {});
    std::size_t write_all(const void* data, std::size_t size, deadline d = {});

    // Sends close_notify: the peer's read returns 0. Like a TCP half-close
    // it ends only this side: it does not wait for the peer's close_notify,
    // which would mean throwing away whatever the peer still sends; read
    // until 0 for that. Waits (under d) only for the socket to take the alert.
    void shutdown(std::error_code& ec, deadline d = {});
    void shutdown(deadline d = {});

    // The protocol ALPN selected ("h2", "http/1.1"); empty when none was.
    std::string_view alpn() const noexcept;
    // The negotiated version: "TLSv1.3", "TLSv1.2"; empty when not connected.
    std::string_view version() const noexcept;

    bool is_open() const noexcept;
    int native_handle() const noexcept;  // the socket's fd
    void close() noexcept;

    struct state;  // in src/net/tls_stream.cpp

private:
    explicit tls_stream(std::unique_ptr<state> s) noexcept;
    std::unique_ptr<state> s_;
};

static_assert(stream<tls_stream>);

}  // namespace weft::net

template <>
struct std::is_error_code_enum<weft::net::tls_errc> : std::true_type {};
