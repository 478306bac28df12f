// The process's registry of workers and the two helper threads that read
// it: the SIGQUIT dump thread and the stall monitor.
//
// SIGQUIT: the signal lands on any thread (in a weft::runtime program,
// usually the main thread, blocked in rt.run), and nothing that formats a
// dump is async-signal-safe. So the handler only writes a byte to a pipe; a
// dedicated thread (started by dump_on_sigquit()) reads it and writes every
// registered worker's fibers to stderr, outside signal context. A thread of
// its own, rather than each worker dumping itself, because the dump matters
// most when a worker is stuck in one fiber and would never answer.
//
// Stalls: a worker that makes no scheduling pass (its ticks_ do not move)
// while it is inside a fiber, not idle in its loop, is stuck in that fiber:
// a long computation or a call that blocks the thread. The monitor thread
// samples each watched worker's ticks_ a few times per period and reports
// each stall once. It adds nothing to the workers' own paths.
#include "sched/monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "platform/clock.hpp"
#include "platform/os_lock.hpp"
#include "sched/thread_sample.hpp"
#include "sched/worker.hpp"
#include "weft/debug.hpp"

namespace weft::detail {

// No synchronization with the worker, which writes current_ on every switch.
// The monitor only trusts the answer when the worker's ticks_ did not move
// around the read (a stalled worker writes nothing), and only uses it to name
// the stalled fiber; hence the relaxed load and no ThreadSanitizer report.
__attribute__((no_sanitize("thread"))) const fiber* worker::running_unsynchronized() const noexcept {
    return __atomic_load_n(const_cast<fiber* const*>(&current_), __ATOMIC_RELAXED);
}

namespace {

struct watch {
    unsigned ticks = 0;
    std::int64_t since = 0;  // when ticks_ was first seen at this value inside a fiber
    bool reported = false;
    fiber_id id = 0;         // the stalled fiber, for the line when it ends
    char name[32] = {};
};

struct entry {
    worker_group* group = nullptr;  // a runtime, or
    worker* lone = nullptr;         // a weft::run worker
    std::int64_t stall_ns = 0;
    std::vector<watch> watches;     // one per worker
    unsigned number = 0;            // the runtime's number, in dumps
};

// Never destroyed: the helper threads may still run at exit.
struct registry {
    os_mutex mu;
    os_condvar changed;  // a watched entry came: the monitor's period may shrink
    std::vector<entry> entries;
    unsigned next_number = 1;
    bool monitor_started = false;
};
registry& reg() {
    static registry* r = new registry();
    return *r;
}

std::atomic<unsigned> helpers{0};
std::atomic<void (*)(const char*)> report_hook{nullptr};

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

// ---- the stall monitor ---------------------------------------------------------

void report(const char* line) {
    if (auto hook = report_hook.load(std::memory_order_acquire)) {
        hook(line);
        return;
    }
    std::string s(line);
    s += '\n';
    write_all(STDERR_FILENO, s.data(), s.size());
}

// The stalled fiber's name and id are read as running_unsynchronized() is.
__attribute__((no_sanitize("thread"))) void check(worker* w, unsigned index, std::int64_t stall_ns, watch& st,
                                                  std::int64_t now) {
    const unsigned t = w->passes();
    const fiber* f = w->running_unsynchronized();
    if (t == st.ticks && !w->is_main_context(f)) {
        if (st.reported || now - st.since < stall_ns) return;
        // Name the fiber, then make sure the worker made no pass meanwhile:
        // then f was the running fiber throughout, and it is still alive.
        char name[sizeof st.name];
        std::memcpy(name, f->name, sizeof name);
        name[sizeof name - 1] = '\0';
        const fiber_id id = f->id;
        if (w->passes() != t) return;
        st.reported = true;
        st.id = id;
        std::memcpy(st.name, name, sizeof name);
        char line[160];
        std::snprintf(line, sizeof line, "weft: worker %u stalled for %lld ms in fiber '%s' #%llu", index,
                      static_cast<long long>((now - st.since) / 1'000'000), name,
                      static_cast<unsigned long long>(id));
        // Computing or in a system call, and where: sampled while it still stalls.
        std::string backtrace;
        std::string text = line + describe_thread(w->thread_id(), backtrace) + backtrace;
        report(text.c_str());
        return;
    }
    if (st.reported) {
        char line[160];
        std::snprintf(line, sizeof line, "weft: worker %u ran again after %lld ms in fiber '%s' #%llu", index,
                      static_cast<long long>((now - st.since) / 1'000'000), st.name,
                      static_cast<unsigned long long>(st.id));
        report(line);
    }
    // A pass, or idle in its loop: a stall can only begin from here.
    st.ticks = t;
    st.since = now;
    st.reported = false;
}

[[noreturn]] void monitor_loop() {
    registry& r = reg();
    std::unique_lock<os_mutex> lock(r.mu);
    for (;;) {
        std::int64_t shortest = 0;
        for (const entry& e : r.entries)
            if (e.stall_ns > 0 && (shortest == 0 || e.stall_ns < shortest)) shortest = e.stall_ns;
        // A few looks per period: a stall is seen within a quarter of it.
        const std::int64_t period =
            shortest == 0 ? 1'000'000'000 : std::clamp<std::int64_t>(shortest / 4, 1'000'000, 250'000'000);
        r.changed.wait_once(lock, deadline_after_ns(period));
        const std::int64_t now = steady_now_ns();
        for (entry& e : r.entries) {
            if (e.stall_ns <= 0) continue;
            if (e.lone) {
                check(e.lone, e.lone->index(), e.stall_ns, e.watches[0], now);
                continue;
            }
            for (std::size_t i = 0; i < e.group->workers.size(); ++i)
                check(e.group->workers[i], static_cast<unsigned>(i), e.stall_ns, e.watches[i], now);
        }
    }
}

void add(entry e) {
    if (e.stall_ns > 0) prepare_thread_sampling();
    registry& r = reg();
    std::lock_guard<os_mutex> lock(r.mu);
    if (e.group) e.number = r.next_number++;
    const std::size_t n = e.group ? e.group->workers.size() : 1;
    e.watches.assign(n, watch{});
    const std::int64_t now = steady_now_ns();
    for (std::size_t i = 0; i < n; ++i) {
        worker* w = e.group ? e.group->workers[i] : e.lone;
        e.watches[i].ticks = w->passes();
        e.watches[i].since = now;
    }
    const bool watched = e.stall_ns > 0;
    r.entries.push_back(std::move(e));
    if (!watched) return;
    if (!r.monitor_started) {
        try {
            start_helper("weft-stall", [] { monitor_loop(); });
            r.monitor_started = true;
        } catch (const std::system_error&) {
            std::fputs("weft: cannot start the stall monitor's thread: no stall reports\n", stderr);
        }
    }
    r.changed.notify_all();
}

void remove(worker_group* g, worker* lone) noexcept {
    registry& r = reg();
    std::lock_guard<os_mutex> lock(r.mu);
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

void register_group(worker_group* g, std::int64_t stall_ns) {
    entry e;
    e.group = g;
    e.stall_ns = stall_ns;
    add(std::move(e));
}

void unregister_group(worker_group* g) noexcept { remove(g, nullptr); }

void register_lone(worker* w, std::int64_t stall_ns) {
    entry e;
    e.lone = w;
    e.stall_ns = stall_ns;
    add(std::move(e));
}

void unregister_lone(worker* w) noexcept { remove(nullptr, w); }

void dump_process(std::ostream& os) {
    registry& r = reg();
    // Held throughout: a runtime that ends meanwhile waits before freeing its workers.
    std::lock_guard<os_mutex> lock(r.mu);
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

std::int64_t stall_report_from_env() noexcept {
    const char* env = std::getenv("WEFT_STALL_MS");
    if (!env || !*env) env = std::getenv("WEFT_STALL_REPORT_MS");  // the older name
    if (!env || !*env) return 0;
    char* end = nullptr;
    const long long ms = std::strtoll(env, &end, 10);
    if (*end != '\0' || ms <= 0 || ms > 86'400'000LL * 365) return 0;
    return ms * 1'000'000;
}

void set_stall_report_hook(void (*hook)(const char* line)) noexcept {
    report_hook.store(hook, std::memory_order_release);
}

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
