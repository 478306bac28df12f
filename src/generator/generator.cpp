// Stackful generators: a plain context switch between the consumer and the
// body's own stack. The scheduler is not involved, so inside weft::run the
// body runs in the consuming fiber's stead and the worker never notices.
#include "weft/generator.hpp"

#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "common/assert.hpp"
#include "context/annotate.hpp"
#include "context/context.hpp"
#include "sched/overflow.hpp"
#include "stack/stack_pool.hpp"

namespace weft::detail {

__thread generator_core* current_generator __attribute__((tls_model("initial-exec"))) = nullptr;

// Compiles to a tail jump into the switch (no frame of its own in optimized
// builds): the switch's resume lands directly in generator.hpp's caller.
void* generator_switch(void** save_sp, void* to_sp, void* arg) { return switch_context(save_sp, to_sp, arg); }

// What a started generator needs only on the slow path, at the top of its own
// stack, so starting one costs a pool pop and no allocation.
struct generator_frame {
    stack stk;
    stack_pool* pool = nullptr;
    const void* owner = nullptr;  // the starting thread: the address of its current_generator
    context_annotations annot;    // the body's stack
    context_annotations caller;   // whatever context resumed it last
};

namespace {

// Sanitizers must hear of every switch: then the inline path is off.
#if WEFT_ASAN || WEFT_TSAN
constexpr bool inline_switch_allowed = false;
#else
constexpr bool inline_switch_allowed = true;
#endif

// Thrown by a pending yield of a generator being destroyed; caught at the body's entry.
// Deliberately not a std::exception, so only catch (...) can intercept it.
struct generator_unwind {};

// Stacks come from a pool per thread. A pool is freed with its thread only
// when no started generator still holds one of its stacks.
struct thread_stacks {
    stack_pool* pool = nullptr;
    std::size_t in_use = 0;
    unsigned releases = 0;
    ~thread_stacks() {
        if (in_use == 0) delete pool;
    }
};
thread_local thread_stacks tls_stacks;

// "const char* weft::detail::yield_type_name() [with V = int]" -> "int"
std::string short_type_name(yield_type_fn fn) {
    std::string s = fn();
    const auto eq = s.find("V = ");
    if (eq == std::string::npos) return s;
    s.erase(0, eq + 4);
    if (const auto end = s.find_first_of(";]"); end != std::string::npos) s.erase(end);
    return s;
}

}  // namespace

struct generator_access {
    static bool on_stack(const generator_core& g, const void* addr) noexcept {
        auto* p = static_cast<const char*>(addr);
        return p >= g.stack_lo_ && p < g.stack_hi_;
    }
    static void start(generator_core& g);
    static void release_stack(generator_core& g) noexcept;
    [[noreturn]] static void entry(void* arg);
    static void run_body(generator_core& g) noexcept;
    // The overflow report's probe: is addr in the guard below the running body's stack?
    static bool overflowed(const void* addr, overflow_site* site) noexcept {
        const generator_core* g = current_generator;
        if (!g || !g->frame_) return false;
        const char* lo = g->frame_->stk.lo;
        const auto* a = static_cast<const char*>(addr);
        if (a >= lo || a < lo - g->frame_->pool->guard_size()) return false;
        site->kind = "generator";
        site->stack_size = g->frame_->stk.size;
        return true;
    }
};

void generator_access::start(generator_core& g) {
    static const bool probe_set = [] {
        set_overflow_probe(&generator_access::overflowed);
        return true;
    }();
    (void)probe_set;
    install_overflow_handler();  // this thread may not be a worker's
    thread_stacks& ts = tls_stacks;
    if (!ts.pool) ts.pool = new stack_pool();
    const stack s = ts.pool->acquire(g.stack_size_);
    auto top = reinterpret_cast<std::uintptr_t>(s.top());
    top = (top - sizeof(generator_frame)) & ~std::uintptr_t{63};
    auto* f = ::new (reinterpret_cast<void*>(top)) generator_frame{};
    f->stk = s;
    f->pool = ts.pool;
    f->owner = &current_generator;
    annotate_create(f->annot, s.lo, s.size);
    char* body_top = reinterpret_cast<char*>(f);
    g.sp_ = make_context(body_top, static_cast<std::size_t>(body_top - s.lo), &generator_access::entry);
    g.stack_lo_ = s.lo;
    g.stack_hi_ = body_top;
    if (inline_switch_allowed) {
        g.fast_owner_ = f->owner;
        g.fast_type_ = g.type_;
    }
    g.frame_ = f;
    ++ts.in_use;
}

// On the consumer, once the body's stack is no longer in use.
void generator_access::release_stack(generator_core& g) noexcept {
    generator_frame* f = std::exchange(g.frame_, nullptr);
    g.sp_ = g.caller_sp_ = nullptr;
    g.stack_lo_ = g.stack_hi_ = nullptr;
    g.fast_owner_ = nullptr;
    g.fast_type_ = nullptr;
    const stack s = f->stk;
    stack_pool* pool = f->pool;
    annotate_destroy(f->annot);
    f->~generator_frame();
#if WEFT_ASAN
    // Frames the body left without returning stay poisoned; the next user of
    // this stack must start clean.
    __asan_unpoison_memory_region(s.lo, s.size);
#endif
    pool->release(s);
    thread_stacks& ts = tls_stacks;
    --ts.in_use;
    if (++ts.releases % 256 == 0) pool->trim();
}

void generator_access::run_body(generator_core& g) noexcept {
    try {
        g.run();
    } catch (const generator_unwind&) {
        return;
    } catch (...) {
        if (g.unwinding_)
            fatal("weft: misuse: a generator body being destroyed threw an exception of its own "
                  "instead of letting weft's unwind exception through (catch (...) must `throw;`)");
        g.error_ = std::current_exception();
        return;
    }
    if (g.unwinding_)
        fatal("weft: misuse: a generator body swallowed weft's unwind exception (catch (...) "
              "without `throw;`) while the generator was being destroyed");
}

void generator_access::entry(void* arg) {
    auto* g = static_cast<generator_core*>(arg);
    generator_frame* f = g->frame_;
    annotate_arrive(f->annot, &f->caller);
    run_body(*g);  // no object with a destructor may live in this frame past here
    g->state_ = generator_core::state::finished;
    g->value_ = nullptr;
    annotate_leave(f->annot, f->caller, /*from_exiting=*/true);
    switch_context(&g->sp_, g->caller_sp_, nullptr);
    __builtin_unreachable();
}

void generator_core::resume_slow() {
    if (state_ == state::finished) return;
    if (state_ == state::running)
        fatal("weft: misuse: a generator was resumed from inside its own body");
    generator_core*& current = current_generator;
    if (state_ == state::created) {
        generator_access::start(*this);
    } else if (frame_->owner != &current_generator) {
        fatal("weft: misuse: a generator was resumed (or destroyed while suspended) on a thread "
              "other than the one that started it");
    }
    if (current && !generator_access::on_stack(*current, __builtin_frame_address(0)))
        fatal("weft: misuse: a generator was resumed while another generator's body is parked: "
              "a generator body blocked (sleep, I/O, join, this_fiber::yield) and another fiber "
              "ran; generator bodies must not block");
    prev_ = current;
    current = this;
    state_ = state::running;
    generator_frame* f = frame_;
#if WEFT_ASAN || WEFT_TSAN
    // The consumer may be a different context each time (another fiber, a
    // nesting generator): learn its annotations afresh.
    f->caller = {};
    annotate_thread(f->caller);
#endif
    annotate_leave(f->caller, f->annot, false);
    switch_context(&caller_sp_, sp_, this);
    annotate_arrive(f->caller, &f->annot);
    current = prev_;
    prev_ = nullptr;
    if (state_ == state::finished) ended();
}

void generator_core::ended() {
    generator_access::release_stack(*this);
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void generator_core::close() noexcept {
    if (state_ == state::suspended) {
        unwinding_ = true;
        fast_type_ = nullptr;  // a yield from here on is misuse: let the slow path say so
        resume();  // the body cannot throw out of run_body, so neither can this
    } else if (state_ == state::running) {
        fatal("weft: misuse: a generator was destroyed from inside its own body");
    }
}

generator_core::~generator_core() = default;

void generator_core::throw_unwind() { throw generator_unwind{}; }

void generator_core::yield_slow(void* value, yield_type_fn type) {
    generator_core* g = current_generator;
    if (!g) fatal("weft: misuse: weft::yield called outside a generator body");
    if (!generator_access::on_stack(*g, __builtin_frame_address(0)))
        fatal("weft: misuse: weft::yield called outside the running generator's body: a "
              "generator body blocked (sleep, I/O, join, this_fiber::yield) and another fiber "
              "ran; generator bodies must not block");
    if (type != g->type_ && std::strcmp(type(), g->type_()) != 0)
        fatal("weft: misuse: weft::yield(%s) in the body of a weft::generator<%s>; convert "
              "with weft::yield<%s>(v)",
              short_type_name(type).c_str(), short_type_name(g->type_).c_str(),
              short_type_name(g->type_).c_str());
    if (g->unwinding_)
        fatal("weft: misuse: weft::yield called in a generator that is being destroyed (its body "
              "caught weft's unwind exception with catch (...) and did not rethrow it, or a "
              "destructor yields)");
    generator_frame* f = g->frame_;
    g->value_ = value;
    g->state_ = state::suspended;
    annotate_leave(f->annot, f->caller, false);
    switch_context(&g->sp_, g->caller_sp_, nullptr);
    annotate_arrive(f->annot, &f->caller);
    if (g->unwinding_) throw generator_unwind{};
}

}  // namespace weft::detail
