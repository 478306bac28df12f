// kqueue backend (macOS, FreeBSD, NetBSD 10+, DragonFly): EV_CLEAR
// registrations, an EVFILT_USER event for wake-ups. On Linux it is built only
// into the tests, against the emulation in tests/support/kqueue_emu.
#pragma once

#include "reactor/reactor.hpp"

namespace weft::detail {

class kqueue_reactor final : public reactor {
public:
    kqueue_reactor();  // throws std::system_error
    ~kqueue_reactor() override;
    kqueue_reactor(const kqueue_reactor&) = delete;
    kqueue_reactor& operator=(const kqueue_reactor&) = delete;

    const char* name() const noexcept override { return "kqueue"; }
    std::error_code add(io_token token) noexcept override;
    void remove(int fd) noexcept override;
    std::size_t poll(std::int64_t timeout_ns, io_event* out, std::size_t max) noexcept override;
    void wake() noexcept override;

private:
    int kq_ = -1;
};

}  // namespace weft::detail
