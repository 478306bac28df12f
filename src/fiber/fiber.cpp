// Control-block placement on a fresh stack, fiber ids and fiber-local storage.
#include "fiber/fiber.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#include "common/assert.hpp"
#include "context/context.hpp"
#include "weft/fiber_local.hpp"

namespace weft::detail {

const char* to_string(fiber_state s) noexcept {
    switch (s) {
        case fiber_state::ready: return "ready";
        case fiber_state::running: return "running";
        case fiber_state::blocked: return "blocked";
        case fiber_state::sleeping: return "sleeping";
        case fiber_state::finished: return "finished";
    }
    return "?";
}

const char* to_string(wait_reason r) noexcept {
    switch (r) {
        case wait_reason::none: return "";
        case wait_reason::sleep: return "sleep";
        case wait_reason::fd_read: return "fd_read";
        case wait_reason::fd_write: return "fd_write";
        case wait_reason::join: return "join";
        case wait_reason::mutex: return "mutex";
        case wait_reason::shared_mutex: return "shared_mutex";
        case wait_reason::condition_variable: return "condition_variable";
        case wait_reason::semaphore: return "semaphore";
        case wait_reason::event: return "event";
        case wait_reason::wait_group: return "wait_group";
        case wait_reason::barrier: return "barrier";
        case wait_reason::call_once: return "call_once";
        case wait_reason::future: return "future";
        case wait_reason::channel_send: return "channel_send";
        case wait_reason::channel_recv: return "channel_recv";
        case wait_reason::select: return "select";
        case wait_reason::offload: return "offload";
        case wait_reason::offload_queue: return "offload_queue";
        case wait_reason::signal: return "signal";
        case wait_reason::poll: return "poll";
        case wait_reason::quiescence: return "quiescence";
    }
    return "?";
}

fiber_id next_fiber_id() noexcept {
    // Each thread takes ids in blocks: unique process-wide without an atomic per spawn.
    constexpr fiber_id block = 1024;
    static std::atomic<fiber_id> next{1};
    thread_local fiber_id cur __attribute__((tls_model("initial-exec"))) = 0;
    thread_local fiber_id end __attribute__((tls_model("initial-exec"))) = 0;
    if (cur == end) {
        cur = next.fetch_add(block, std::memory_order_relaxed);
        end = cur + block;
    }
    return cur++;
}

namespace {
std::uintptr_t align_down(std::uintptr_t p, std::size_t a) noexcept { return p & ~(a - 1); }
}  // namespace

fiber* fiber_create(const stack& s, std::string_view name, std::size_t fn_size,
                    std::size_t fn_align, void (*entry)(void*)) {
    auto top = reinterpret_cast<std::uintptr_t>(s.top());
    const std::uintptr_t block = align_down(top - sizeof(fiber), 64);
    const std::uintptr_t storage =
        align_down(block - fn_size, std::max<std::size_t>(fn_align, 16));
    // Keep at least half the stack for the fiber's own frames.
    if (block - storage > s.size / 2) return nullptr;
    auto* f = ::new (reinterpret_cast<void*>(block)) fiber;  // members carry their own initialisers
    f->stk = s;
    f->fn_storage = reinterpret_cast<void*>(storage);
    const std::size_t n = std::min(name.size(), sizeof(f->name) - 1);
    if (n > 0) std::memcpy(f->name, name.data(), n);
    f->name[n] = '\0';
    f->id = next_fiber_id();
    const std::size_t usable = storage - reinterpret_cast<std::uintptr_t>(s.lo);
    f->sp = make_context(reinterpret_cast<void*>(storage), usable, entry);
    annotate_create(f->annot, s.lo, s.size);
    return f;
}

// ---- fiber-local storage ---------------------------------------------------

namespace {
std::atomic<std::size_t> fls_slots{0};

// Values of code running outside any fiber live here, one table per thread.
struct thread_fls {
    fls_table table;
    ~thread_fls() {
        for (auto& e : table)
            if (e.value) e.destroy(e.value);
    }
};
thread_local thread_fls thread_table;
}  // namespace

fls_table& current_fls_table();  // defined by the scheduler: the running fiber's table

std::size_t fls_new_slot() noexcept { return fls_slots.fetch_add(1, std::memory_order_relaxed); }

void* fls_get(std::size_t slot) noexcept {
    fls_table& t = current_fls_table();
    return slot < t.size() ? t[slot].value : nullptr;
}

void fls_set(std::size_t slot, void* value, void (*destroy)(void*) noexcept) {
    fls_table& t = current_fls_table();
    if (slot >= t.size()) t.resize(slot + 1);
    if (t[slot].value) t[slot].destroy(t[slot].value);
    t[slot] = fls_entry{value, destroy};
}

void fls_destroy_all(fiber* f) noexcept {
    if (!f->fls) return;
    // A destructor may touch other fiber-locals of the same fiber: loop until quiet.
    for (int round = 0; round < 4; ++round) {
        bool any = false;
        for (std::size_t i = 0; i < f->fls->size(); ++i) {
            fls_entry e = (*f->fls)[i];
            if (!e.value) continue;
            (*f->fls)[i] = fls_entry{};
            e.destroy(e.value);
            any = true;
        }
        if (!any) break;
    }
    delete f->fls;
    f->fls = nullptr;
}

fls_table& thread_fls_table() { return thread_table.table; }

}  // namespace weft::detail
