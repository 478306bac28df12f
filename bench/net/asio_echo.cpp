// Boost.Asio peer: the classic async echo (async_read_some, then async_write of
// what came), all connections on one io_context run by one thread.
// Usage: asio_echo [PORT] [--port-file PATH]
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility> (C++20 mode).
#include <utility>

#include <boost/asio.hpp>

#include <cstdio>
#include <memory>

#include "server_common.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(tcp::socket s) : socket_(std::move(s)) {}
    void start() { read(); }

private:
    void read() {
        socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](boost::system::error_code ec,
                                                                               std::size_t n) {
            if (!ec) self->write(n);
        });
    }
    void write(std::size_t n) {
        asio::async_write(socket_, asio::buffer(buf_, n),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                              if (!ec) self->read();
                          });
    }

    tcp::socket socket_;
    char buf_[16 * 1024];
};

void accept_loop(tcp::acceptor& acceptor) {
    acceptor.async_accept([&acceptor](boost::system::error_code ec, tcp::socket s) {
        if (!ec) {
            s.set_option(tcp::no_delay(true));
            std::make_shared<session>(std::move(s))->start();
        }
        accept_loop(acceptor);
    });
}

}  // namespace

int main(int argc, char** argv) {
    const auto args = netbench::parse_server_args("asio_echo", argc, argv);
    try {
        asio::io_context io(1);  // concurrency hint 1: one thread runs it, no internal locking needed
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                                 static_cast<unsigned short>(args.port)));
        netbench::report_port("asio_echo", args, acceptor.local_endpoint().port());
        accept_loop(acceptor);
        io.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "asio_echo: %s\n", e.what());
        return 1;
    }
}
