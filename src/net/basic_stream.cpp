// detail::basic_stream's members, instantiated for tcp_stream and
// unix_stream: one definition of the byte-stream calls (net/stream_io.hpp
// does the I/O), so the two socket types cannot drift apart.
#include "weft/detail/basic_stream.hpp"

#include <string>

#include "net/io.hpp"
#include "net/stream_io.hpp"
#include "weft/net/tcp.hpp"
#include "weft/net/unix.hpp"

namespace weft::detail {

namespace {
// The type's name in the messages of the throwing forms.
template <class S>
constexpr const char* stream_name = nullptr;
template <>
constexpr const char* stream_name<net::tcp_stream> = "weft::net::tcp_stream";
template <>
constexpr const char* stream_name<net::unix_stream> = "weft::net::unix_stream";

// detail::or_throw, with the message made only when the call failed.
template <class S, class Fn>
auto or_throw_as(const char* member, Fn fn) {
    std::error_code ec;
    auto r = fn(ec);
    if (ec) throw_error(ec, (std::string(stream_name<S>) + "::" + member).c_str());
    return r;
}
}  // namespace

template <class D>
std::size_t basic_stream<D>::read(void* data, std::size_t size, std::error_code& ec, deadline d) {
    return stream_ops::read(fd_, data, size, ec, d);
}
template <class D>
std::size_t basic_stream<D>::read(void* data, std::size_t size, deadline d) {
    return or_throw_as<D>("read", [&](std::error_code& ec) { return read(data, size, ec, d); });
}

template <class D>
net::pooled_buffer basic_stream<D>::read_pooled(std::error_code& ec, deadline d) {
    return stream_ops::read_pooled(fd_, ec, d);
}
template <class D>
net::pooled_buffer basic_stream<D>::read_pooled(deadline d) {
    return or_throw_as<D>("read_pooled", [&](std::error_code& ec) { return read_pooled(ec, d); });
}

template <class D>
std::size_t basic_stream<D>::read_exact(void* data, std::size_t size, std::error_code& ec, deadline d) {
    return stream_ops::read_exact(fd_, data, size, ec, d);
}
template <class D>
std::size_t basic_stream<D>::read_exact(void* data, std::size_t size, deadline d) {
    return or_throw_as<D>("read_exact", [&](std::error_code& ec) { return read_exact(data, size, ec, d); });
}

template <class D>
std::size_t basic_stream<D>::write(const void* data, std::size_t size, std::error_code& ec, deadline d) {
    return stream_ops::write(fd_, data, size, ec, d);
}
template <class D>
std::size_t basic_stream<D>::write(const void* data, std::size_t size, deadline d) {
    return or_throw_as<D>("write", [&](std::error_code& ec) { return write(data, size, ec, d); });
}

template <class D>
std::size_t basic_stream<D>::write_all(const void* data, std::size_t size, std::error_code& ec, deadline d) {
    return stream_ops::write_all(fd_, data, size, ec, d);
}
template <class D>
std::size_t basic_stream<D>::write_all(const void* data, std::size_t size, deadline d) {
    return or_throw_as<D>("write_all", [&](std::error_code& ec) { return write_all(data, size, ec, d); });
}

template <class D>
std::size_t basic_stream<D>::send_file(int file_fd, std::uint64_t offset, std::size_t count, std::error_code& ec,
                                       deadline d) {
    return stream_ops::send_file(fd_, file_fd, offset, count, ec, d);
}
template <class D>
std::size_t basic_stream<D>::send_file(int file_fd, std::uint64_t offset, std::size_t count, deadline d) {
    return or_throw_as<D>("send_file", [&](std::error_code& ec) { return send_file(file_fd, offset, count, ec, d); });
}

template <class D>
void basic_stream<D>::shutdown_write(std::error_code& ec) noexcept {
    stream_ops::shutdown_write(fd_, ec);
}
template <class D>
void basic_stream<D>::shutdown_write() {
    or_throw_as<D>("shutdown_write", [&](std::error_code& ec) { shutdown_write(ec); return 0; });
}

template <class D>
void basic_stream<D>::shutdown(std::error_code& ec, deadline) {
    if (fd_ < 0) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return;
    }
    require_fiber("a blocking socket call");
    shutdown_write(ec);
}
template <class D>
void basic_stream<D>::shutdown(deadline d) {
    or_throw_as<D>("shutdown", [&](std::error_code& ec) { shutdown(ec, d); return 0; });
}

template <class D>
void basic_stream<D>::close() noexcept {
    close_fd(fd_.take());
}

template class basic_stream<net::tcp_stream>;
template class basic_stream<net::unix_stream>;

}  // namespace weft::detail
