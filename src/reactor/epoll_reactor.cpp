// epoll backend. Edge-triggered: callers try I/O first and wait only after
// EAGAIN, so one registration per fd serves every later wait.
#include "reactor/epoll_reactor.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace weft::detail {

namespace {
constexpr std::uint64_t wake_token = ~std::uint64_t{0};
}

epoll_reactor::epoll_reactor() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "weft: epoll_create1");
    wakefd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakefd_ < 0) {
        const int err = errno;
        ::close(epfd_);
        throw std::system_error(err, std::generic_category(), "weft: eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = wake_token;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
}

epoll_reactor::~epoll_reactor() {
    ::close(wakefd_);
    ::close(epfd_);
}

std::error_code epoll_reactor::add(io_token token) noexcept {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = pack_token(token);
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, token.fd, &ev) == 0) return {};
    if (errno == EEXIST && ::epoll_ctl(epfd_, EPOLL_CTL_MOD, token.fd, &ev) == 0) return {};
    return std::error_code(errno, std::generic_category());
}

void epoll_reactor::remove(int fd) noexcept { ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

std::size_t epoll_reactor::poll(std::int64_t timeout_ns, io_event* out, std::size_t max) noexcept {
    constexpr std::size_t batch = 256;
    epoll_event evs[batch];
    int timeout_ms = -1;
    if (timeout_ns >= 0) {
        // Round up: waking a little late is fine, waking early spins.
        const std::int64_t ms = (timeout_ns + 999'999) / 1'000'000;
        timeout_ms = ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
    }
    const int n = ::epoll_wait(epfd_, evs, static_cast<int>(max < batch ? max : batch), timeout_ms);
    std::size_t k = 0;
    for (int i = 0; i < n; ++i) {
        if (evs[i].data.u64 == wake_token) {
            std::uint64_t drained;
            [[maybe_unused]] auto r = ::read(wakefd_, &drained, sizeof drained);
            continue;
        }
        const std::uint32_t e = evs[i].events;
        out[k++] = io_event{unpack_token(evs[i].data.u64), (e & (EPOLLIN | EPOLLRDHUP)) != 0,
                            (e & EPOLLOUT) != 0, (e & (EPOLLERR | EPOLLHUP)) != 0};
    }
    return k;
}

void epoll_reactor::wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wakefd_, &one, sizeof one);
}

}  // namespace weft::detail
