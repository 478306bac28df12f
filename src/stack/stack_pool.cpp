// Slab-backed stack pool. One mmap holds many stacks, each with a guard page
// below it; pages are committed only when a fiber touches them.
#include "stack/stack_pool.hpp"

#include "common/assert.hpp"
#include "platform/os_lock.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <cerrno>
#include <system_error>

namespace weft::detail {

namespace {
#ifndef MADV_GUARD_INSTALL
constexpr int MADV_GUARD_INSTALL = 102;
#endif
constexpr std::size_t max_slab_stacks = 1024;

bool install_guard(void* p, std::size_t len, guard_kind k) noexcept {
    if (k == guard_kind::madvise_guard) return ::madvise(p, len, MADV_GUARD_INSTALL) == 0;
    return ::mprotect(p, len, PROT_NONE) == 0;
}

#if defined(SYS_process_madvise) && defined(SYS_pidfd_open)
// A pidfd for this process, reopened after fork: a child must never advise its parent.
int self_pidfd() noexcept {
    static os_mutex mu;  // workers on several threads grow their pools at once
    static int fd = -1;
    static pid_t owner = 0;
    std::lock_guard<os_mutex> lock(mu);
    const pid_t pid = ::getpid();
    if (owner != pid) {
        fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
        owner = pid;
    }
    return fd;
}
#endif

// Installs guards on n ranges of len bytes, `stride` apart. Page-table work per
// guard is small; a syscall per guard is not, so batch them through
// process_madvise where the kernel accepts any advice for the calling process (>= 6.13).
// Applies `advice` to every range, as few syscalls as possible: page-table
// work per range is small, a syscall per range is not, so ranges go in
// batches through process_madvise where the kernel accepts any advice for
// the calling process (>= 6.13). Returns how many ranges from the front were
// done; the caller finishes the rest one by one.
std::size_t advise_batched(const std::vector<iovec>& ranges, int advice) noexcept {
    std::size_t i = 0;
#if defined(SYS_process_madvise) && defined(SYS_pidfd_open)
    static std::atomic<bool> batch_ok{true};
    const int pidfd = batch_ok ? self_pidfd() : -1;
    while (batch_ok && pidfd >= 0 && i < ranges.size()) {
        const std::size_t m = std::min<std::size_t>(ranges.size() - i, 256);
        std::size_t bytes = 0;
        for (std::size_t j = 0; j < m; ++j) bytes += ranges[i + j].iov_len;
        const long done = ::syscall(SYS_process_madvise, pidfd, ranges.data() + i, m, advice, 0);
        if (done != static_cast<long>(bytes)) {
            batch_ok = false;  // older kernel or partial: finish one by one
            break;
        }
        i += m;
    }
#else
    (void)advice;
#endif
    return i;
}

bool install_guards(char* first, std::size_t n, std::size_t stride, std::size_t len,
                    guard_kind k) noexcept {
    std::size_t i = 0;
    if (k == guard_kind::madvise_guard) {
        std::vector<iovec> ranges;
        try {
            ranges.reserve(n);
            for (std::size_t j = 0; j < n; ++j) ranges.push_back(iovec{first + j * stride, len});
            i = advise_batched(ranges, MADV_GUARD_INSTALL);
        } catch (const std::bad_alloc&) {
        }
    }
    for (; i < n; ++i)
        if (!install_guard(first + i * stride, len, k)) return false;
    return true;
}
}  // namespace

std::size_t page_size() noexcept {
    static const std::size_t ps = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return ps;
}

guard_kind probe_guard_kind() noexcept {
    static const guard_kind kind = [] {
        const std::size_t ps = page_size();
        void* p = ::mmap(nullptr, 2 * ps, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return guard_kind::mprotect;
        bool ok = ::madvise(p, ps, MADV_GUARD_INSTALL) == 0;
        // Some layers (emulators, older seccomp filters) accept unknown advice
        // and do nothing. A real guard makes the kernel's own copy fail with EFAULT.
        int fds[2];
        if (ok && ::pipe(fds) == 0) {
            ok = ::write(fds[1], p, 1) < 0 && errno == EFAULT;
            ::close(fds[0]);
            ::close(fds[1]);
        }
        ::munmap(p, 2 * ps);
        return ok ? guard_kind::madvise_guard : guard_kind::mprotect;
    }();
    return kind;
}

const char* guard_kind_name(guard_kind k) noexcept {
    return k == guard_kind::madvise_guard ? "MADV_GUARD_INSTALL" : "mprotect";
}

stack_pool::stack_pool(std::size_t high_water, guard_kind kind)
    : high_water_(high_water), guard_(page_size()), kind_(kind) {}

stack_pool::~stack_pool() {
    for (const slab& s : slabs_) ::munmap(s.base, s.bytes);
}

std::size_t stack_pool::rounded_size(std::size_t request) noexcept {
    const std::size_t ps = page_size();
    std::size_t s = std::max(request, min_stack_size);
    return (s + ps - 1) / ps * ps;
}

const stack_pool::size_class* stack_pool::find_class(std::size_t size) const noexcept {
    for (const size_class& c : classes_)
        if (c.size == size) return &c;
    return nullptr;
}

stack_pool::size_class& stack_pool::class_for(std::size_t size) {
    if (auto* c = find_class(size)) return const_cast<size_class&>(*c);
    classes_.push_back(size_class{size, {}, {}, 16});
    return classes_.back();
}

void stack_pool::grow(size_class& c) {
    const std::size_t stride = c.size + guard_;
    const std::size_t n = c.next_slab;
    const std::size_t bytes = n * stride;
    void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        throw std::system_error(errno, std::generic_category(), "weft: cannot map fiber stacks");
    char* b = static_cast<char*>(base);
    if (!install_guards(b, n, stride, guard_, kind_)) {
        const int err = errno;
        ::munmap(base, bytes);
        throw std::system_error(err, std::generic_category(),
                                "weft: cannot install a stack guard page");
    }
    slabs_.push_back(slab{base, bytes});
    c.cold.reserve(c.cold.size() + n);
    // Highest address last: stacks are handed out from the top of the slab down.
    for (std::size_t i = 0; i < n; ++i) c.cold.push_back(b + i * stride + guard_);
    c.next_slab = std::min(n * 2, max_slab_stacks);
}

stack stack_pool::acquire(std::size_t request) {
    if (request > max_stack_size)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "weft: fiber stack size too large");
    if (request != last_request_ || classes_.empty()) {
        size_class& found = class_for(rounded_size(request));
        last_class_ = static_cast<std::size_t>(&found - classes_.data());
        last_request_ = request;
    }
    size_class* c = &classes_[last_class_];
    if (c->hot.empty() && returned_.load(std::memory_order_relaxed)) {
        take_returned();
        c = &classes_[last_class_];  // take_returned may have added classes
    }
    const std::size_t size = c->size;
    char* lo;
    if (!c->hot.empty()) {
        lo = c->hot.back();
        c->hot.pop_back();
    } else {
        if (c->cold.empty()) grow(*c);
        lo = c->cold.back();
        c->cold.pop_back();
    }
    return stack{lo, size, this};
}

void stack_pool::release(const stack& s) noexcept {
    if (s.home && s.home != this) {
        if (out_home_ != s.home || out_count_ == send_batch) send_home();
        returned* r = as_returned(s);
        r->size = s.size;
        r->next = nullptr;
        if (out_tail_) out_tail_->next = r;
        else out_head_ = r;
        out_tail_ = r;
        out_home_ = s.home;
        ++out_count_;
        return;
    }
    size_class& c = (!classes_.empty() && classes_[last_class_].size == s.size) ? classes_[last_class_]
                                                                                : class_for(s.size);
    c.hot.push_back(s.lo);
}

void stack_pool::send_home() noexcept {
    if (!out_head_) return;
    std::atomic<returned*>& head = out_home_->returned_;
    returned* old = head.load(std::memory_order_relaxed);
    do {
        out_tail_->next = old;
    } while (!head.compare_exchange_weak(old, out_head_, std::memory_order_release, std::memory_order_relaxed));
    out_home_ = nullptr;
    out_head_ = out_tail_ = nullptr;
    out_count_ = 0;
}

void stack_pool::take_returned() noexcept {
    // Taking the whole list at once: no ABA, and one atomic for a batch.
    for (returned* r = returned_.exchange(nullptr, std::memory_order_acquire); r;) {
        returned* next = r->next;
        const std::size_t size = r->size;
        char* lo = reinterpret_cast<char*>(r) + sizeof(returned) - size;
        class_for(size).hot.push_back(lo);
        r = next;
    }
}

void stack_pool::trim() noexcept {
    take_returned();
    for (size_class& c : classes_) {
        if (c.hot.size() <= high_water_) continue;
        // hot is LIFO: its front holds the stacks idle the longest.
        const std::size_t excess = c.hot.size() - high_water_;
        std::vector<char*> out(c.hot.begin(), c.hot.begin() + static_cast<std::ptrdiff_t>(excess));
        c.hot.erase(c.hot.begin(), c.hot.begin() + static_cast<std::ptrdiff_t>(excess));
        std::sort(out.begin(), out.end());
        const std::size_t stride = c.size + guard_;
        // One range per run of neighbouring stacks; guards inside a run stay
        // guards: MADV_DONTNEED keeps guard markers and PROT_NONE.
        std::vector<iovec> runs;
        for (std::size_t i = 0; i < out.size();) {
            std::size_t j = i + 1;
            while (j < out.size() && out[j] == out[j - 1] + stride) ++j;
            runs.push_back(iovec{out[i], static_cast<std::size_t>(out[j - 1] - out[i]) + c.size});
            i = j;
        }
        for (std::size_t i = advise_batched(runs, MADV_DONTNEED); i < runs.size(); ++i)
            ::madvise(runs[i].iov_base, runs[i].iov_len, MADV_DONTNEED);
        c.cold.insert(c.cold.end(), out.begin(), out.end());
    }
}

std::size_t stack_pool::idle_stacks(std::size_t size) const noexcept {
    const size_class* c = find_class(rounded_size(size));
    return c ? c->hot.size() + c->cold.size() : 0;
}

std::size_t stack_pool::resident_idle_stacks(std::size_t size) const noexcept {
    const size_class* c = find_class(rounded_size(size));
    return c ? c->hot.size() : 0;
}

}  // namespace weft::detail
