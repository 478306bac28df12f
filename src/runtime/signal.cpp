// weft::signal_wait: a handler writes the signal number into a pipe per
// waiter, and the waiter waits for the pipe like any other fd.
#include "weft/signal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <vector>

#include "common/assert.hpp"
#include "platform/os_lock.hpp"
#include "reactor/poller.hpp"
#include "sched/worker.hpp"

namespace weft {

namespace {
constexpr int max_waiters = 64;

struct slot {
    std::atomic<int> fd{-1};       // write end, read by the handler
    std::atomic<std::uint64_t> mask{0};  // signals 1..63 this waiter wants
};
slot slots[max_waiters];
detail::os_mutex install_mu;
std::atomic<std::uint64_t> installed{0};

void on_signal(int sig) {
    const int saved = errno;
    bool delivered = false;
    const std::uint64_t bit = std::uint64_t{1} << sig;
    for (slot& s : slots) {
        const int fd = s.fd.load(std::memory_order_acquire);
        if (fd < 0 || !(s.mask.load(std::memory_order_relaxed) & bit)) continue;
        const unsigned char b = static_cast<unsigned char>(sig);
        if (::write(fd, &b, 1) == 1) delivered = true;
    }
    if (!delivered) {  // nobody waits for it: what the process would have done
        ::signal(sig, SIG_DFL);
        ::raise(sig);
    }
    errno = saved;
}

void install(int sig) {
    std::lock_guard<detail::os_mutex> lock(install_mu);
    if (installed.load() & (std::uint64_t{1} << sig)) return;
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (::sigaction(sig, &sa, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(), "weft::signal_wait: sigaction");
    installed.fetch_or(std::uint64_t{1} << sig);
}

// A slot and its pipe for the duration of one wait.
class registration {
public:
    explicit registration(std::uint64_t mask) {
        int p[2];
        if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
            throw std::system_error(errno, std::generic_category(), "weft::signal_wait: pipe");
        read_fd_ = p[0];
        write_fd_ = p[1];
        for (slot& s : slots) {
            int expected = -1;  // -2 reserves the slot while its mask is set
            if (s.fd.compare_exchange_strong(expected, -2, std::memory_order_acq_rel)) {
                s.mask.store(mask, std::memory_order_relaxed);
                s.fd.store(write_fd_, std::memory_order_release);
                slot_ = &s;
                return;
            }
        }
        ::close(read_fd_);
        ::close(write_fd_);
        throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                                "weft::signal_wait: too many waiters");
    }
    ~registration() {
        slot_->fd.store(-1, std::memory_order_release);
        ::close(write_fd_);
        if (registered_) detail::fd_detach(read_fd_);  // its waiter is this fiber, done by now
        ::close(read_fd_);
    }
    int read_fd() const noexcept { return read_fd_; }
    bool registered_ = false;

private:
    slot* slot_ = nullptr;
    int read_fd_ = -1;
    int write_fd_ = -1;
};
}  // namespace

int signal_wait(std::initializer_list<int> signals, std::error_code& ec) {
    ec.clear();
    std::uint64_t mask = 0;
    for (int sig : signals) {
        if (sig <= 0 || sig >= 64 || sig == SIGKILL || sig == SIGSTOP) {
            ec = std::make_error_code(std::errc::invalid_argument);
            return 0;
        }
        mask |= std::uint64_t{1} << sig;
    }
    if (!mask) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return 0;
    }
    std::optional<registration> slot;
    try {
        slot.emplace(mask);
    } catch (const std::system_error& e) {
        ec = e.code();  // every slot taken, or no pipe to be had
        return 0;
    }
    registration& reg = *slot;
    for (int sig : signals) install(sig);
    detail::worker* w = detail::worker::current();
    const bool on_fiber = w && w->on_fiber();
    if (on_fiber) {
        if ((ec = detail::fd_attach(reg.read_fd()))) return 0;
        reg.registered_ = true;
    }
    for (;;) {
        const std::uint32_t ticket = detail::fd_ticket(reg.read_fd(), false);
        unsigned char b;
        const ssize_t n = ::read(reg.read_fd(), &b, 1);
        if (n == 1) return b;
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            ec = std::error_code(errno, std::generic_category());
            return 0;
        }
        if (on_fiber) {
            if ((ec = detail::fd_wait(reg.read_fd(), false, ticket, detail::no_deadline, detail::wait_reason::signal)))
                return 0;
        } else {
            pollfd p{reg.read_fd(), POLLIN, 0};
            ::poll(&p, 1, -1);
        }
    }
}

int signal_wait(std::initializer_list<int> signals) {
    std::error_code ec;
    const int sig = signal_wait(signals, ec);
    if (ec) throw std::system_error(ec, "weft::signal_wait");
    return sig;
}

}  // namespace weft
