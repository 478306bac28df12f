// TLS that works: a weft client and a weft server in one process (by name
// and by IP, ALPN, close_notify), generic code over weft::net::stream with
// tcp, unix and tls streams, 100 handshakes at once (one worker and two),
// 8 MiB each way through one stream read and written by two fibers, and a
// weft client against a real `openssl s_server`. Loopback only; every loop
// bounded; no assertion on elapsed time.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "net_io_first.hpp"
#include "tls_test_support.hpp"

namespace {

using namespace weft_tls_test;
using weft::net::unix_listener;
using weft::net::unix_stream;

static_assert(weft::net::stream<tcp_stream>);
static_assert(weft::net::stream<unix_stream>);
static_assert(weft::net::stream<tls_stream>);
static_assert(!weft::net::stream<tcp_listener>);

TEST(Tls, ClientAndServerInProcess) {
    WEFT_NEED_CERTS();
    weft::run([] {
        tcp_listener l = listen_v4();
        tls_context sctx = server_ctx();
        sctx.set_alpn({"h2", "http/1.1"});
        std::error_code sec, server_end;
        std::string server_got;
        auto server = serve_one(l, sctx, &sec, [&](tls_stream& s) {
            char buf[5];
            s.read_exact(buf, sizeof buf, io_limit);
            server_got.assign(buf, sizeof buf);
            s.write_all("world", 5, io_limit);
            char b;
            EXPECT_EQ(s.read(&b, 1, server_end, io_limit), 0u);  // the client's close_notify
            s.shutdown(io_limit);
        });
        tls_context cctx = client_ctx();
        cctx.set_alpn({"h2", "http/1.1"});
        tls_stream c = tls_stream::connect(local(l, "localhost"), cctx, io_limit);
        EXPECT_TRUE(c.is_open());
        EXPECT_GE(c.native_handle(), 0);
        EXPECT_EQ(c.alpn(), "h2");
        EXPECT_EQ(c.version(), "TLSv1.3");
        c.write_all("hello", 5, io_limit);
        char buf[5];
        c.read_exact(buf, sizeof buf, io_limit);
        EXPECT_EQ(std::string(buf, sizeof buf), "world");
        c.shutdown(io_limit);
        c.shutdown(io_limit);  // a second one has nothing more to send
        std::error_code ec;
        EXPECT_EQ(c.write("x", 1, ec, io_limit), 0u);
        EXPECT_EQ(ec, std::errc::broken_pipe);
        EXPECT_EQ(read_to_end(c, ec), "");
        EXPECT_FALSE(ec) << ec.message();  // the server's close_notify: a clean end
        server.join();
        EXPECT_FALSE(sec) << sec.message();
        EXPECT_FALSE(server_end) << server_end.message();
        EXPECT_EQ(server_got, "hello");
        c.close();
        EXPECT_FALSE(c.is_open());
        EXPECT_EQ(c.read(buf, 1, ec), 0u);
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
    });
}

TEST(Tls, ByIpAddressAndOnAConnectedSocket) {
    WEFT_NEED_CERTS();
    weft::run([] {
        tcp_listener l = listen_v4();
        tls_context sctx = server_ctx();
        for (int i = 0; i < 2; ++i) {
            std::error_code sec;
            auto server = serve_one(l, sctx, &sec, [](tls_stream& s) { s.write_all("ok", 2, io_limit); });
            tls_stream c;
            if (i == 0) {
                c = tls_stream::connect(local(l), client_ctx(), io_limit);  // checked against IP:127.0.0.1
            } else {
                tcp_stream raw = tcp_stream::connect(l.local_address(), io_limit);
                c = tls_stream::handshake_client(std::move(raw), client_ctx(), "localhost", io_limit);
            }
            char buf[2];
            c.read_exact(buf, 2, io_limit);
            EXPECT_EQ(std::string(buf, 2), "ok");
            EXPECT_EQ(c.alpn(), "");
            server.join();
            EXPECT_FALSE(sec) << sec.message();
        }
    });
}

TEST(Tls, AlpnServerPreferenceAndNoOverlap) {
    WEFT_NEED_CERTS();
    weft::run([] {
        tcp_listener l = listen_v4();
        tls_context sctx = server_ctx();
        sctx.set_alpn({"http/1.1", "h2"});
        struct offer {
            std::vector<std::string_view> client;
            std::string_view want;
        };
        const std::vector<offer> offers = {{{"h2", "http/1.1"}, "http/1.1"}, {{"h2"}, "h2"}, {{"spdy/3"}, ""}};
        for (const offer& o : offers) {
            std::string server_saw = "unset";
            std::error_code sec;
            auto server = serve_one(l, sctx, &sec, [&](tls_stream& s) { server_saw = s.alpn(); });
            tls_context cctx = client_ctx();
            cctx.set_alpn(std::span<const std::string_view>(o.client));
            tls_stream c = tls_stream::connect(local(l), cctx, io_limit);
            EXPECT_EQ(c.alpn(), o.want);
            server.join();
            EXPECT_FALSE(sec) << sec.message();
            EXPECT_EQ(server_saw, o.want);
        }
        tls_context bad = client_ctx();
        std::error_code ec;
        const std::string_view empty[] = {""};
        bad.set_alpn(empty, ec);
        EXPECT_EQ(ec, std::errc::invalid_argument);
        EXPECT_EQ(thrown_code([&] { bad.set_alpn({std::string_view(std::string(256, 'x'))}); }),
                  std::errc::invalid_argument);
    });
}

// ---- generic code over weft::net::stream ------------------------------------------

// Echoes until the peer ends its side, then ends ours.
template <weft::net::stream S>
std::size_t echo(S& s) {
    char buf[1024];
    std::size_t total = 0;
    for (int i = 0; i < 100000; ++i) {
        const std::size_t n = s.read(buf, sizeof buf, io_limit);
        if (n == 0) break;
        s.write_all(buf, n, io_limit);
        total += n;
    }
    s.shutdown(io_limit);
    return total;
}

// Sends text, ends its side, and returns everything that comes back.
template <weft::net::stream S>
std::string round_trip(S& s, const std::string& text) {
    s.write_all(text.data(), text.size(), io_limit);
    s.shutdown();
    std::error_code ec;
    std::string back = read_to_end(s, ec);
    EXPECT_FALSE(ec) << ec.message();
    return back;
}

TEST(Tls, OneEchoTemplateForTcpUnixAndTls) {
    WEFT_NEED_CERTS();
    const std::string text = "generic over weft::net::stream";
    weft::run([&] {
        {
            tcp_listener l = listen_v4();
            std::size_t echoed = 0;
            scoped_fiber server([&] {
                tcp_stream s = l.accept(io_limit);
                echoed = echo(s);
            });
            tcp_stream c = tcp_stream::connect(l.local_address(), io_limit);
            EXPECT_EQ(round_trip(c, text), text);
            server.join();
            EXPECT_EQ(echoed, text.size());
        }
        {
            const std::string path = certs().dir + "/echo.sock";
            unix_listener l = unix_listener::bind(path, {.unlink_existing = true, .unlink_on_close = true});
            std::size_t echoed = 0;
            scoped_fiber server([&] {
                unix_stream s = l.accept(io_limit);
                echoed = echo(s);
            });
            unix_stream c = unix_stream::connect(path, io_limit);
            EXPECT_EQ(round_trip(c, text), text);
            server.join();
            EXPECT_EQ(echoed, text.size());
        }
        {
            tcp_listener l = listen_v4();
            std::size_t echoed = 0;
            std::error_code sec;
            auto server = serve_one(l, server_ctx(), &sec, [&](tls_stream& s) { echoed = echo(s); });
            tls_stream c = tls_stream::connect(local(l), client_ctx(), io_limit);
            EXPECT_EQ(round_trip(c, text), text);
            server.join();
            EXPECT_FALSE(sec) << sec.message();
            EXPECT_EQ(echoed, text.size());
        }
    });
}

// The rule of weft::net's calls (net_io_first.hpp) holds through TLS: a
// record already in OpenSSL's buffer is read under a passed deadline, a
// zero-size read is 0 at once.
TEST(Tls, IoFirstThenTheDeadline) {
    WEFT_NEED_CERTS();
    weft::run([] {
        weft::deadline_scope guard{weft_net_test::kGuard};
        tcp_listener l = listen_v4();
        tls_stream server;
        std::error_code sec;
        auto acceptor = serve_one(l, server_ctx(), &sec, [&](tls_stream& s) { server = std::move(s); });
        tls_stream client = tls_stream::connect(local(l), client_ctx(), io_limit);
        acceptor.join();
        ASSERT_FALSE(sec) << sec.message();
        ASSERT_TRUE(server.is_open());
        weft_net_test::io_first::check_all(server, client);
        weft_net_test::io_first::check_all(client, server);
    });
}

// ---- many at once -----------------------------------------------------------------

// n clients handshake with one server at once; each sends its number and
// reads it back, then both sides close cleanly.
void many_handshakes(int n) {
    tcp_listener l = listen_v4();
    const tls_context sctx = server_ctx();
    const tls_context cctx = client_ctx();
    const std::string to = local(l);
    std::atomic<int> served{0}, done{0};
    scoped_fiber acceptor([&] {
        std::vector<scoped_fiber> handlers;
        for (int i = 0; i < n; ++i) {
            std::error_code ec;
            tcp_stream raw = l.accept(ec, io_limit);
            if (ec) {
                ADD_FAILURE() << "accept: " << ec.message();
                return;
            }
            handlers.emplace_back([&, raw = std::move(raw)]() mutable {
                std::error_code e;
                tls_stream s = tls_stream::accept(std::move(raw), sctx, e, io_limit);
                int v = -1;
                if (!e) s.read_exact(&v, sizeof v, e, io_limit);
                if (!e) s.write_all(&v, sizeof v, e, io_limit);
                if (!e) s.shutdown(e, io_limit);
                if (e) ADD_FAILURE() << "server side: " << e.message() << " (" << weft::net::tls_last_error() << ")";
                else served.fetch_add(1);
            });
        }
        for (auto& h : handlers) h.join();
    });
    std::vector<scoped_fiber> clients;
    for (int i = 0; i < n; ++i) {
        clients.emplace_back([&, i] {
            std::error_code e;
            tls_stream s = tls_stream::connect(to, cctx, e, io_limit);
            int v = -1;
            if (!e) s.write_all(&i, sizeof i, e, io_limit);
            if (!e) s.read_exact(&v, sizeof v, e, io_limit);
            if (!e) s.shutdown(e, io_limit);
            if (e) ADD_FAILURE() << "client " << i << ": " << e.message() << " (" << weft::net::tls_last_error() << ")";
            else if (v == i) done.fetch_add(1);
        });
    }
    for (auto& c : clients) c.join();
    acceptor.join();
    EXPECT_EQ(done.load(), n);
    EXPECT_EQ(served.load(), n);
}

TEST(Tls, HundredHandshakesAtOnce) {
    WEFT_NEED_CERTS();
    weft::run([] { many_handshakes(100); });
}

TEST(Tls, HundredHandshakesAtOnceOnTwoWorkers) {
    WEFT_NEED_CERTS();
    weft::runtime rt{{.workers = 2}};
    rt.run([] { many_handshakes(100); });
}

// ---- a large transfer -------------------------------------------------------------

// 8 MiB to an echo server and back over one stream: one fiber writes (in
// uneven pieces) and then sends close_notify while another reads, so both
// directions are in flight on the one SSL object at once.
void large_transfer() {
    constexpr std::size_t total = 8u << 20;
    const std::vector<unsigned char> data = weft_net_test::pattern(total, 14);
    tcp_listener l = listen_v4();
    std::error_code sec;
    std::size_t echoed = 0;
    auto server = serve_one(l, server_ctx(), &sec, [&](tls_stream& s) { echoed = echo(s); });
    tls_stream c = tls_stream::connect(local(l), client_ctx(), io_limit);
    std::error_code wec;
    scoped_fiber writer([&] {
        std::size_t off = 0;
        for (std::size_t i = 0; off < total && i < total; ++i) {
            const std::size_t n = std::min<std::size_t>(total - off, 1000 + (i * 7919) % 70000);
            c.write_all(data.data() + off, n, wec, io_limit);
            if (wec) return;
            off += n;
        }
        c.shutdown(wec, io_limit);
    });
    std::vector<unsigned char> back(total);
    std::size_t got = 0;
    std::error_code rec;
    for (std::size_t i = 0; got < total && i < total; ++i) {
        const std::size_t n = c.read(back.data() + got, std::min<std::size_t>(total - got, 50000), rec, io_limit);
        if (rec || n == 0) break;
        got += n;
    }
    writer.join();
    char b;
    std::error_code end;
    EXPECT_EQ(c.read(&b, 1, end, io_limit), 0u);  // the echo server's close_notify
    EXPECT_FALSE(end) << end.message();
    server.join();
    EXPECT_FALSE(wec) << wec.message();
    EXPECT_FALSE(rec) << rec.message();
    EXPECT_FALSE(sec) << sec.message();
    EXPECT_EQ(echoed, total);
    ASSERT_EQ(got, total);
    EXPECT_EQ(weft_net_test::first_mismatch(data, back), total) << "the first byte that differs";
}

TEST(Tls, EightMiBEachWayReadAndWrittenByTwoFibers) {
    WEFT_NEED_CERTS();
    weft::run([] { large_transfer(); });
}

TEST(Tls, EightMiBEachWayOnTwoWorkers) {
    WEFT_NEED_CERTS();
    weft::runtime rt{{.workers = 2}};
    rt.run([] { large_transfer(); });
}

// ---- a real OpenSSL server ----------------------------------------------------------

TEST(Tls, ClientAgainstOpensslSServer) {
    WEFT_NEED_CERTS();
    openssl_server srv(free_port());
    ASSERT_TRUE(srv.started()) << "could not start openssl s_server";
    weft::run([&] {
        // s_server needs a moment to listen: retry, a bounded number of times.
        const std::string to = "localhost:" + std::to_string(srv.port());
        tcp_stream raw;
        std::error_code ec;
        for (int i = 0; i < 400; ++i) {
            raw = tcp_stream::connect(to, ec, io_limit);
            if (!ec) break;
            weft::this_fiber::sleep_for(25ms);
        }
        ASSERT_FALSE(ec) << "s_server did not listen on " << to << ": " << ec.message();
        tls_stream c = tls_stream::handshake_client(std::move(raw), client_ctx(), "localhost", io_limit);
        const std::string req = "GET / HTTP/1.0\r\n\r\n";
        c.write_all(req.data(), req.size(), io_limit);
        const std::string page = read_to_end(c, ec);
        // s_server -www may end with or without close_notify; anything else is an error.
        EXPECT_TRUE(!ec || ec == tls_errc::truncated) << ec.message();
        EXPECT_EQ(page.rfind("HTTP/1.0 200 ok", 0), 0u) << page.substr(0, 200);
        EXPECT_NE(page.find("TLSv1.3"), std::string::npos) << page.substr(0, 400);
    });
}

}  // namespace
