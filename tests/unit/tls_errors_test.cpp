// TLS that fails, and fails clearly: untrusted and mismatched certificates,
// bad files, a handshake that times out or is canceled, a peer that resets
// or closes mid-handshake, a stream cut without close_notify, cancel and
// close during a read. Loopback only; every loop bounded; no assertion on
// elapsed time.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <string>

#include "tls_test_support.hpp"

namespace {

using namespace weft_tls_test;

// The throwing form's message, or "" when nothing was thrown.
template <class F>
std::string thrown_what(F&& fn) {
    try {
        fn();
    } catch (const std::system_error& e) {
        return e.what();
    }
    return "";
}

// Reads one whole TLS record (the ClientHello): closing with unread bytes
// would send a reset, not a FIN.
void read_record(tcp_stream& s) {
    unsigned char head[5];
    s.read_exact(head, sizeof head, io_limit);
    EXPECT_EQ(head[0], 0x16) << "a TLS handshake record";
    std::string body((head[3] << 8) | head[4], '\0');
    s.read_exact(body.data(), body.size(), io_limit);
}

// Ends the connection with a TCP reset instead of a FIN.
void reset(tcp_stream& s) {
    const linger lg{1, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    s.close();
}

TEST(TlsErrors, UntrustedCertificate) {
    WEFT_NEED_CERTS();
    weft::run([] {
        tcp_listener l = listen_v4();
        const tls_context self_signed = tls_context::server(certs().self_cert, certs().self_key);
        std::error_code sec;
        {
            auto server = serve_one(l, self_signed, &sec);
            std::error_code ec;
            tls_stream c = tls_stream::connect(local(l, "localhost"), client_ctx(), ec, io_limit);
            EXPECT_EQ(ec, tls_errc::untrusted_certificate) << ec.message();
            EXPECT_FALSE(c.is_open());
            EXPECT_NE(weft::net::tls_last_error().find("certificate verify failed"), std::string::npos)
                << weft::net::tls_last_error();
            server.join();
            // The client's alert ends the server's handshake too.
            EXPECT_EQ(sec, tls_errc::handshake_failed) << sec.message();
        }
        {
            auto server = serve_one(l, self_signed, &sec);
            const std::string what = thrown_what([&] { tls_stream::connect(local(l), client_ctx(), io_limit); });
            EXPECT_NE(what.find("weft::net::tls_stream::connect"), std::string::npos) << what;
            EXPECT_NE(what.find("certificate verify failed"), std::string::npos) << what;
            EXPECT_NE(what.find("self-signed"), std::string::npos) << what;
        }
        {
            // The system's CA store alone does not know the test CA either.
            auto server = serve_one(l, server_ctx(), &sec);
            std::error_code ec;
            tls_stream::connect(local(l), tls_context::client(), ec, io_limit);
            EXPECT_EQ(ec, tls_errc::untrusted_certificate) << ec.message();
        }
        {
            // With verification off (tests only) the self-signed one is taken.
            auto server = serve_one(l, self_signed, &sec);
            tls_context trusting = tls_context::client();
            trusting.set_verify_peer(false);
            std::error_code ec;
            tls_stream c = tls_stream::connect(local(l), trusting, ec, io_limit);
            EXPECT_FALSE(ec) << ec.message();
            server.join();
            EXPECT_FALSE(sec) << sec.message();
        }
    });
}

TEST(TlsErrors, HostNameAndAddressMismatch) {
    WEFT_NEED_CERTS();
    weft::run([] {
        tcp_listener l = listen_v4();
        // The certificate names localhost and 127.0.0.1, not these.
        for (const char* name : {"weft-other.test", "::1", "127.0.0.2"}) {
            SCOPED_TRACE(name);
            std::error_code sec, ec;
            auto server = serve_one(l, server_ctx(), &sec);
            tcp_stream raw = tcp_stream::connect(l.local_address(), io_limit);
            tls_stream::handshake_client(std::move(raw), client_ctx(), name, ec, io_limit);
            EXPECT_EQ(ec, tls_errc::hostname_mismatch) << ec.message();
            EXPECT_NE(weft::net::tls_last_error().find("mismatch"), std::string::npos) << weft::net::tls_last_error();
        }
        // The throwing form, with an IPv6 address in brackets as connect writes it.
        std::error_code sec;
        auto server = serve_one(l, server_ctx(), &sec);
        tcp_stream raw = tcp_stream::connect(l.local_address(), io_limit);
        EXPECT_EQ(thrown_code([&] { tls_stream::handshake_client(std::move(raw), client_ctx(), "[::1]", io_limit); }),
                  tls_errc::hostname_mismatch);
    });
}

TEST(TlsErrors, BadFiles) {
    WEFT_NEED_CERTS();
    const cert_files& f = certs();
    std::error_code ec;
    tls_context::server(f.dir + "/missing.pem", f.server_key, ec);
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory) << ec.message();
    tls_context::server(f.garbage, f.server_key, ec);
    EXPECT_EQ(ec, tls_errc::invalid_certificate_file) << ec.message();
    tls_context::server(f.server_cert, f.dir + "/missing.key", ec);
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory) << ec.message();
    tls_context::server(f.server_cert, f.garbage, ec);
    EXPECT_EQ(ec, tls_errc::invalid_private_key) << ec.message();
    tls_context::server(f.server_cert, f.self_key, ec);  // a key, but not this certificate's
    EXPECT_EQ(ec, tls_errc::invalid_private_key) << ec.message();
    tls_context::server(f.server_cert, f.server_key, ec);
    EXPECT_FALSE(ec) << ec.message();

    tls_context c = tls_context::client();
    c.load_verify_file(f.dir + "/missing.pem", ec);
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory) << ec.message();
    c.load_verify_file(f.garbage, ec);
    EXPECT_TRUE(ec) << "a file with no certificate in it";
    const std::string what = thrown_what([&] { tls_context::server(f.garbage, f.server_key); });
    EXPECT_NE(what.find("garbage.pem"), std::string::npos) << what;
    EXPECT_NE(what.find("tls_context::server"), std::string::npos) << what;
}

TEST(TlsErrors, HandshakeTimesOutAgainstASilentServer) {
    WEFT_NEED_CERTS();
    weft::run([] {
        // Connections complete in the kernel's backlog; nobody ever answers.
        tcp_listener l = listen_v4();
        std::error_code ec;
        tls_stream c = tls_stream::connect(local(l), client_ctx(), ec, 100ms);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_FALSE(c.is_open());
        {
            weft::deadline_scope scope{100ms};
            tcp_stream raw = tcp_stream::connect(l.local_address(), ec, io_limit);
            ASSERT_FALSE(ec) << ec.message();
            tls_stream::handshake_client(std::move(raw), client_ctx(), "localhost", ec, io_limit);
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        }
        // The server side too: a client that connects and says nothing (on a
        // listener of its own: l's backlog holds the clients above).
        tcp_listener l2 = listen_v4();
        std::error_code sec;
        auto server = scoped_fiber([&] {
            tcp_stream raw = l2.accept(io_limit);
            tls_stream::accept(std::move(raw), server_ctx(), sec, 100ms);
        });
        tcp_stream quiet = tcp_stream::connect(l2.local_address(), io_limit);
        server.join();
        EXPECT_EQ(sec, std::errc::timed_out) << sec.message();
    });
}

TEST(TlsErrors, CanceledMidHandshake) {
    WEFT_NEED_CERTS();
    weft::run([] {
        tcp_listener l = listen_v4();
        std::error_code ec;
        scoped_fiber client([&] { tls_stream::connect(local(l), client_ctx(), ec, io_limit); });
        // The ClientHello has arrived: the client is inside its handshake, waiting.
        tcp_stream raw = l.accept(io_limit);
        read_record(raw);
        client.cancel();
        client.join();
        EXPECT_EQ(ec, std::errc::operation_canceled) << ec.message();
    });
}

TEST(TlsErrors, PeerResetsOrClosesMidHandshake) {
    WEFT_NEED_CERTS();
    weft::run([] {
        tcp_listener l = listen_v4();
        for (bool rst : {true, false}) {
            SCOPED_TRACE(rst ? "reset" : "close");
            scoped_fiber peer([&] {
                tcp_stream raw = l.accept(io_limit);
                read_record(raw);
                if (rst) reset(raw);
            });
            std::error_code ec;
            tls_stream::connect(local(l), client_ctx(), ec, io_limit);
            peer.join();
            if (rst) {
                EXPECT_EQ(ec, std::errc::connection_reset) << ec.message();
            } else {
                EXPECT_EQ(ec, weft::net::net_errc::eof) << ec.message();
            }
        }
        // A client that starts a record and resets: the server's handshake fails.
        std::error_code sec;
        scoped_fiber server([&] {
            tcp_stream raw = l.accept(io_limit);
            tls_stream::accept(std::move(raw), server_ctx(), sec, io_limit);
        });
        tcp_stream c = tcp_stream::connect(l.local_address(), io_limit);
        const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
        c.write_all(partial, sizeof partial, io_limit);
        weft::this_fiber::yield();
        reset(c);
        server.join();
        EXPECT_EQ(sec, std::errc::connection_reset) << sec.message();
    });
}

TEST(TlsErrors, CutWithoutCloseNotifyIsTruncated) {
    WEFT_NEED_CERTS();
    weft::run([] {
        tcp_listener l = listen_v4();
        std::error_code sec;
        auto server = serve_one(l, server_ctx(), &sec, [](tls_stream& s) {
            s.write_all("partial", 7, io_limit);
            s.close();  // no close_notify
        });
        tls_stream c = tls_stream::connect(local(l), client_ctx(), io_limit);
        char buf[7];
        c.read_exact(buf, sizeof buf, io_limit);
        EXPECT_EQ(std::string(buf, sizeof buf), "partial");
        std::error_code ec;
        EXPECT_EQ(c.read(buf, 1, ec, io_limit), 0u);
        EXPECT_EQ(ec, tls_errc::truncated) << ec.message();
        EXPECT_EQ(thrown_code([&] { c.read(buf, 1, io_limit); }), tls_errc::truncated) << "it stays so";
        server.join();

        // read_exact: eof after close_notify, truncated without it.
        for (bool clean : {true, false}) {
            auto s2 = serve_one(l, server_ctx(), &sec, [clean](tls_stream& s) {
                s.write_all("abc", 3, io_limit);
                if (clean) s.shutdown(io_limit);
            });
            tls_stream c2 = tls_stream::connect(local(l), client_ctx(), io_limit);
            char big[10];
            EXPECT_EQ(c2.read_exact(big, sizeof big, ec, io_limit), 3u);
            if (clean) {
                EXPECT_EQ(ec, weft::net::net_errc::eof) << ec.message();
            } else {
                EXPECT_EQ(ec, tls_errc::truncated) << ec.message();
            }
            s2.join();
        }
    });
}

TEST(TlsErrors, CancelAndCloseDuringARead) {
    WEFT_NEED_CERTS();
    weft::run([] {
        tcp_listener l = listen_v4();
        std::error_code sec;
        weft::event server_may_go;
        auto server = serve_one(l, server_ctx(), &sec, [&](tls_stream&) {
            std::error_code e;
            server_may_go.wait(e);
        });
        tls_stream c = tls_stream::connect(local(l), client_ctx(), io_limit);
        std::error_code rec;
        char buf[16];
        scoped_fiber reader([&] { c.read(buf, sizeof buf, rec, io_limit); });
        for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
        reader.cancel();
        reader.join();
        EXPECT_EQ(rec, std::errc::operation_canceled) << rec.message();

        // close() from another fiber wakes a blocked reader.
        scoped_fiber reader2([&] { c.read(buf, sizeof buf, rec, io_limit); });
        for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
        c.close();
        reader2.join();
        EXPECT_EQ(rec, std::errc::bad_file_descriptor) << rec.message();
        server_may_go.set();
        server.join();
    });
}

}  // namespace
