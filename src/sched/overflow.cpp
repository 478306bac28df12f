// SIGSEGV on a fiber's guard page becomes "stack overflow in fiber 'name' #id";
// any other fault goes to the handler that was there before weft.
#include "sched/overflow.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>

#include "sched/worker.hpp"

namespace weft::detail {

namespace {
struct sigaction previous_segv;
constexpr std::size_t alt_stack_size = 64 * 1024;
thread_local void* own_alt_stack = nullptr;
std::atomic<overflow_probe> extra_probe{nullptr};

// Async-signal-safe formatting: append text or a decimal number to buf.
struct line {
    char buf[256];
    std::size_t n = 0;
    void put(const char* s) {
        while (*s && n < sizeof buf - 1) buf[n++] = *s++;
    }
    void put(std::uint64_t v) {
        char digits[24];
        int k = 0;
        do digits[k++] = static_cast<char>('0' + v % 10);
        while ((v /= 10) != 0);
        while (k > 0 && n < sizeof buf - 1) buf[n++] = digits[--k];
    }
};

void on_segv(int sig, siginfo_t* info, void* uctx) {
    worker* w = worker::current();
    fiber* f = w ? w->running() : nullptr;
    if (f && f->stk.lo) {
        auto* addr = static_cast<char*>(info->si_addr);
        const std::size_t guard = w->stacks().guard_size();
        if (addr < f->stk.lo && addr >= f->stk.lo - guard) {
            line l;
            l.put("weft: stack overflow in fiber '");
            l.put(f->name);
            l.put("' #");
            l.put(f->id);
            l.put(" (stack ");
            l.put(f->stk.size / 1024);
            l.put(" KiB)\n");
            [[maybe_unused]] auto r = ::write(STDERR_FILENO, l.buf, l.n);
            ::signal(SIGABRT, SIG_DFL);
            std::abort();
        }
    }
    if (overflow_probe probe = extra_probe.load(std::memory_order_acquire)) {
        overflow_site site{};
        if (probe(info->si_addr, &site)) {
            line l;
            l.put("weft: stack overflow in a ");
            l.put(site.kind);
            l.put(" (stack ");
            l.put(site.stack_size / 1024);
            l.put(" KiB)\n");
            [[maybe_unused]] auto r = ::write(STDERR_FILENO, l.buf, l.n);
            ::signal(SIGABRT, SIG_DFL);
            std::abort();
        }
    }
    // Not ours: hand it to whoever handled SIGSEGV before.
    if (previous_segv.sa_flags & SA_SIGINFO) {
        if (previous_segv.sa_sigaction) {
            previous_segv.sa_sigaction(sig, info, uctx);
            return;
        }
    } else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
        previous_segv.sa_handler(sig);
        return;
    }
    // Default action: return with it restored, so the fault repeats and dumps core.
    ::signal(SIGSEGV, SIG_DFL);
}
}  // namespace

void install_overflow_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa = {};
        sa.sa_sigaction = &on_segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGSEGV, &sa, &previous_segv);
    });
    stack_t current = {};
    if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;
    void* p = ::mmap(nullptr, alt_stack_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;  // overflow then dies by plain SIGSEGV, without the report
    stack_t ss = {};
    ss.ss_sp = p;
    ss.ss_size = alt_stack_size;
    if (::sigaltstack(&ss, nullptr) != 0) {
        ::munmap(p, alt_stack_size);
        return;
    }
    own_alt_stack = p;
}

void set_overflow_probe(overflow_probe probe) noexcept { extra_probe.store(probe, std::memory_order_release); }

void remove_overflow_stack() noexcept {
    if (!own_alt_stack) return;
    stack_t ss = {};
    ss.ss_flags = SS_DISABLE;
    ::sigaltstack(&ss, nullptr);
    ::munmap(own_alt_stack, alt_stack_size);
    own_alt_stack = nullptr;
}

}  // namespace weft::detail
