// The process's registry of workers and the SIGQUIT dump thread that reads it.
//
// SIGQUIT: the signal lands on any thread (in a weft::runtime program,
// usually the main thread, blocked in rt.run), and nothing that formats a
// dump is async-signal-safe. So the handler only writes a byte to a pipe; a
// dedicated thread (started by dump_on_sigquit()) reads it and writes every
// registered worker's fibers to stderr, outside signal context. A thread of
// its own, rather than each worker dumping itself, because the dump matters
// most when a worker is stuck in one fiber and would never answer.
#include "sched/monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sched/worker.hpp"
#include "weft/debug.hpp"

namespace weft::detail {

namespace {

struct entry {
    worker_group* group = nullptr;  // a runtime, or
    worker* lone = nullptr;         // a weft::run worker
    unsigned number = 0;            // the runtime's number, in dumps
};

// Never destroyed: the helper threads may still run at exit.
struct registry {
    std::mutex mu;
    std::vector<entry> entries;
    unsigned next_number = 1;
};
registry& reg() {
    static registry* r = new registry();
    return *r;
}

std::atomic<unsigned> helpers{0};

void write_all(int fd, const char* p, std::size_t n) noexcept {
    while (n > 0) {
        const ssize_t k = ::write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
}

// A helper thread with every signal blocked, so signals meant for the
// program (SIGINT for signal_wait, say) never land on it.
template <class F>
void start_helper(const char* name, F fn) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
        std::thread t([fn] { fn(); });
        pthread_setname_np(t.native_handle(), name);
        t.detach();
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    helpers.fetch_add(1, std::memory_order_relaxed);
}

void add(entry e) {
    registry& r = reg();
    std::lock_guard<std::mutex> lock(r.mu);
    if (e.group) e.number = r.next_number++;
    r.entries.push_back(std::move(e));
}

void remove(worker_group* g, worker* lone) noexcept {
    registry& r = reg();
    std::lock_guard<std::mutex> lock(r.mu);
    std::erase_if(r.entries, [&](const entry& e) { return g ? e.group == g : e.lone == lone; });
}

// ---- the SIGQUIT dump thread ------------------------------------------------------

int dump_pipe[2] = {-1, -1};
std::atomic<pid_t> dump_pid{0};  // the process whose thread reads dump_pipe (not a forked child)

void dump_now(int fd) {
    std::ostringstream os;
    os << "weft: SIGQUIT: fiber dump\n";
    dump_process(os);
    os << "weft: end of fiber dump\n";
    const std::string s = os.str();
    write_all(fd, s.data(), s.size());
}

[[noreturn]] void dump_loop() {
    for (;;) {
        pollfd p{dump_pipe[0], POLLIN, 0};
        if (::poll(&p, 1, -1) < 0) continue;
        char buf[64];
        bool asked = false;
        while (::read(dump_pipe[0], buf, sizeof buf) > 0) asked = true;  // signals meanwhile: one dump
        if (asked) dump_now(STDERR_FILENO);
    }
}

void on_sigquit(int) {
    const int saved = errno;
    if (dump_pid.load(std::memory_order_acquire) == ::getpid()) {
        const char b = 'q';
        (void)!::write(dump_pipe[1], &b, 1);  // non-blocking: a full pipe means a dump is coming
    } else {
        // No dump thread (it could not start, or this is a forked child):
        // format here, as a last resort, rather than print nothing.
        dump_now(STDERR_FILENO);
    }
    errno = saved;
}

}  // namespace

void register_group(worker_group* g) {
    entry e;
    e.group = g;
    add(std::move(e));
}

void unregister_group(worker_group* g) noexcept { remove(g, nullptr); }

void register_lone(worker* w) {
    entry e;
    e.lone = w;
    add(std::move(e));
}

void unregister_lone(worker* w) noexcept { remove(nullptr, w); }

void dump_process(std::ostream& os) {
    registry& r = reg();
    // Held throughout: a runtime that ends meanwhile waits before freeing its workers.
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.entries.empty()) {
        os << "weft: no weft worker in this process\n";
        return;
    }
    worker* self = worker::current();
    for (const entry& e : r.entries) {
        if (e.lone) {
            os << "weft::run worker" << (e.lone == self ? " (this thread)" : "") << ": ";
            e.lone->dump(os);
            continue;
        }
        os << "runtime " << e.number << " (" << e.group->workers.size() << " workers):\n";
        for (worker* w : e.group->workers) {
            os << "worker " << w->index() << (w == self ? " (this thread)" : " (snapshot)") << ": ";
            w->dump(os);
        }
    }
}

unsigned helper_threads() noexcept { return helpers.load(std::memory_order_relaxed); }

}  // namespace weft::detail

namespace weft {

void dump_on_sigquit() {
    static std::once_flag once;
    std::call_once(once, [] {
        // The dump thread; without it (no pipe, no thread) the handler
        // formats the dump itself, as before.
        // Both ends non-blocking: the handler must never block, and the
        // thread waits in poll.
        if (::pipe2(detail::dump_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
            try {
                detail::start_helper("weft-sigquit", [] { detail::dump_loop(); });
                detail::dump_pid.store(::getpid(), std::memory_order_release);
            } catch (const std::system_error&) {
            }
        }
    });
    struct sigaction sa{};
    sa.sa_handler = detail::on_sigquit;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_ONSTACK;
    ::sigaction(SIGQUIT, &sa, nullptr);
}

}  // namespace weft
