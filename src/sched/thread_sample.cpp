#include "sched/thread_sample.hpp"

#include <signal.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <ucontext.h>
#endif

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "sched/symbolize.hpp"
#include "sched/worker.hpp"

#if defined(__linux__)
namespace weft::detail {
namespace {

constexpr std::size_t max_depth = 32;

// One sample at a time: the monitor asks, the handler on the target thread answers.
struct sample {
    std::atomic<int> tid{0};       // whose handler may fill it; 0: nobody asked
    std::atomic<bool> done{false};
    std::size_t depth = 0;
    std::uintptr_t pcs[max_depth];
};
sample the_sample;

int sample_signal() noexcept { return SIGRTMAX - 3; }

bool on_stack(const stack& s, std::uintptr_t p) noexcept {
    const auto lo = reinterpret_cast<std::uintptr_t>(s.lo);
    return s.lo && p >= lo && p + 16 <= lo + s.size;
}

// Async-signal-safe: reads registers and the fiber's own stack, nothing else.
void on_sample_signal(int, siginfo_t*, void* uctx) {
    const int saved = errno;
    const int me = static_cast<int>(::syscall(SYS_gettid));
    if (the_sample.tid.load(std::memory_order_acquire) == me && !the_sample.done.load(std::memory_order_relaxed)) {
        const auto* uc = static_cast<const ucontext_t*>(uctx);
#if defined(__x86_64__)
        std::uintptr_t pc = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
        std::uintptr_t fp = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RBP]);
#elif defined(__aarch64__)
        std::uintptr_t pc = static_cast<std::uintptr_t>(uc->uc_mcontext.pc);
        std::uintptr_t fp = static_cast<std::uintptr_t>(uc->uc_mcontext.regs[29]);
#else
        std::uintptr_t pc = 0, fp = 0;
        (void)uc;
#endif
        const worker* w = worker::current();
        const fiber* f = w ? w->running_unsynchronized() : nullptr;
        std::size_t depth = 0;
        // The interrupted instruction, then the return addresses up the fiber's stack.
        if (pc) the_sample.pcs[depth++] = pc + 1;  // symbolize looks at pc - 1
        while (f && depth < max_depth && on_stack(f->stk, fp)) {
            const std::uintptr_t next_fp = reinterpret_cast<const std::uintptr_t*>(fp)[0];
            const std::uintptr_t ret = reinterpret_cast<const std::uintptr_t*>(fp)[1];
            if (!ret) break;
            the_sample.pcs[depth++] = ret;
            if (next_fp <= fp) break;
            fp = next_fp;
        }
        the_sample.depth = depth;
        the_sample.done.store(true, std::memory_order_release);
    }
    errno = saved;
}

struct syscall_name {
    long nr;
    const char* name;
    bool restarts;  // restarted after a SA_RESTART handler (signal(7)), so a sample is harmless
};
const syscall_name known_syscalls[] = {
    {SYS_read, "read", true},           {SYS_write, "write", true},
    {SYS_readv, "readv", true},         {SYS_writev, "writev", true},
    {SYS_pread64, "pread64", true},     {SYS_pwrite64, "pwrite64", true},
    {SYS_recvfrom, "recvfrom", true},   {SYS_sendto, "sendto", true},
    {SYS_recvmsg, "recvmsg", true},     {SYS_sendmsg, "sendmsg", true},
    {SYS_accept4, "accept4", true},     {SYS_connect, "connect", true},
    {SYS_futex, "futex", true},         {SYS_wait4, "wait4", true},
    {SYS_openat, "openat", true},       {SYS_flock, "flock", true},
    {SYS_fcntl, "fcntl", true},         {SYS_ioctl, "ioctl", true},
    {SYS_fsync, "fsync", false},        {SYS_fdatasync, "fdatasync", false},
    {SYS_ppoll, "ppoll", false},        {SYS_pselect6, "pselect6", false},
    {SYS_epoll_pwait, "epoll_pwait", false}, {SYS_nanosleep, "nanosleep", false},
    {SYS_clock_nanosleep, "clock_nanosleep", false},
#ifdef SYS_poll
    {SYS_poll, "poll", false},          {SYS_select, "select", false},
    {SYS_epoll_wait, "epoll_wait", false}, {SYS_accept, "accept", true},
#endif
};

std::atomic<int> sampling{0};  // 0: not tried, 1: armed, -1: the signal is the program's

}  // namespace

bool prepare_thread_sampling() noexcept {
    int s = sampling.load(std::memory_order_acquire);
    if (s != 0) return s > 0;
    struct sigaction old {};
    if (::sigaction(sample_signal(), nullptr, &old) != 0 ||
        (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && old.sa_sigaction != &on_sample_signal)) {
        sampling.store(-1, std::memory_order_release);
        return false;
    }
    struct sigaction sa {};
    sa.sa_sigaction = &on_sample_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    const bool ok = ::sigaction(sample_signal(), &sa, nullptr) == 0;
    sampling.store(ok ? 1 : -1, std::memory_order_release);
    return ok;
}

std::string describe_thread(int tid, std::string& backtrace) {
    if (tid <= 0) return "";
    // "running", or "NR arg1 ... arg6 sp pc" while in a system call.
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
    char text[256] = {};
    if (std::FILE* f = std::fopen(path, "r")) {
        if (!std::fgets(text, sizeof text, f)) text[0] = '\0';
        std::fclose(f);
    }
    std::string what;
    bool may_sample = false;
    if (std::strncmp(text, "running", 7) == 0) {
        what = " (computing)";
        may_sample = true;
    } else if (text[0] != '\0') {
        const long nr = std::strtol(text, nullptr, 10);
        const syscall_name* known = nullptr;
        for (const syscall_name& k : known_syscalls)
            if (k.nr == nr) known = &k;
        char buf[64];
        if (known) {
            std::snprintf(buf, sizeof buf, " (blocked in %s)", known->name);
            may_sample = known->restarts;
        } else if (nr >= 0) {
            std::snprintf(buf, sizeof buf, " (blocked in system call %ld)", nr);
        } else {
            std::snprintf(buf, sizeof buf, " (not running)");
        }
        what = buf;
    }
    if (!may_sample || sampling.load(std::memory_order_acquire) <= 0) return what;
    the_sample.done.store(false, std::memory_order_relaxed);
    the_sample.depth = 0;
    the_sample.tid.store(tid, std::memory_order_release);
    if (::syscall(SYS_tgkill, ::getpid(), tid, sample_signal()) == 0) {
        // A thread that blocks the signal never answers: give up after a while.
        for (int i = 0; i < 200 && !the_sample.done.load(std::memory_order_acquire); ++i)
            std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    const bool got = the_sample.done.load(std::memory_order_acquire);
    the_sample.tid.store(0, std::memory_order_release);
    if (!got) return what;
    std::string names[max_depth];
    const std::size_t depth = the_sample.depth;
    symbolize(the_sample.pcs, depth, names);
    for (std::size_t i = 0; i < depth; ++i) backtrace += "\n      #" + std::to_string(i) + ' ' + names[i];
    return what;
}

}  // namespace weft::detail

#else  // no /proc/self/task, no tgkill: reports carry no state and no backtrace

namespace weft::detail {
bool prepare_thread_sampling() noexcept { return false; }
std::string describe_thread(int, std::string&) { return ""; }
}  // namespace weft::detail

#endif
