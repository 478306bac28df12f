// epoll backend: edge-triggered registration, an eventfd for wake-ups.
#pragma once

#include "reactor/reactor.hpp"

namespace weft::detail {

class epoll_reactor final : public reactor {
public:
    epoll_reactor();  // throws std::system_error
    ~epoll_reactor() override;
    const char* name() const noexcept override { return "epoll"; }
    std::error_code add(io_token token) noexcept override;
    void remove(int fd) noexcept override;
    std::size_t poll(std::int64_t timeout_ns, io_event* out, std::size_t max) noexcept override;
    void wake() noexcept override;

private:
    int epfd_ = -1;
    int wakefd_ = -1;
};

}  // namespace weft::detail
