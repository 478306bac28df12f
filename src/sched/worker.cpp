// The worker: fiber start and exit, direct fiber-to-fiber switching, timers,
// the idle loop and the deadlock report.
#include "sched/worker.hpp"

#include <time.h>

#include <cerrno>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <system_error>

#include "common/assert.hpp"
#include "context/context.hpp"
#include "sched/overflow.hpp"

namespace weft::detail {

thread_local worker* this_worker __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {
// Timers are checked on the fiber-to-fiber path once per this many switches,
// so busy fibers cannot delay a due sleeper for long.
constexpr unsigned timer_check_interval = 64;
}  // namespace

std::int64_t steady_now_ns() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

worker::worker() {
    if (this_worker)
        fatal("weft: misuse: weft::run called on a thread that is already running weft::run");
    this_worker = this;
    main_.state = fiber_state::running;
    main_.owner = this;
    annotate_thread(main_.annot);
    install_overflow_handler();
}

worker::~worker() {
    for (fiber* f = all_; f; f = f->all_next)
        fatal("weft: fiber '%s' #%llu outlived weft::run", f->name,
              static_cast<unsigned long long>(f->id));
    remove_overflow_stack();
    this_worker = nullptr;
}

fiber* worker::allocate(const spawn_options& opts, std::size_t fn_size, std::size_t fn_align) {
    stack s = stacks_.acquire(opts.stack_size);
    fiber* f = fiber_create(s, opts.name, fn_size, fn_align, &worker::fiber_entry);
    if (!f) {
        stacks_.release(s);
        throw std::system_error(std::make_error_code(std::errc::value_too_large),
                                "weft: the callable does not fit the fiber's stack");
    }
    f->owner = this;
    return f;
}

void worker::abandon(fiber* f) noexcept { release(f); }

void worker::start(fiber* f) noexcept {
    ++live_;
    f->all_next = all_;
    if (all_) all_->all_prev = f;
    all_ = f;
    f->state = fiber_state::ready;
    ready_.push(f);
}

void worker::schedule(fiber* f) noexcept {
    f->state = fiber_state::ready;
    f->wait_reason = "";
    ready_.push(f);
}

void worker::fire_timers(std::int64_t now) noexcept {
    while (timer_node* t = timers_.top()) {
        if (t->deadline_ns > now) break;
        timers_.pop();
        schedule(t->waiter);
    }
}

fiber* worker::next_runnable() noexcept {
    if (++ticks_ % timer_check_interval == 0 && !timers_.empty()) fire_timers(steady_now_ns());
    if (fiber* f = ready_.pop()) return f;
    return &main_;
}

void worker::switch_to(fiber* next, bool exiting) noexcept {
    fiber* prev = current_;
    current_ = next;
    next->state = fiber_state::running;
    annotate_leave(prev->annot, next->annot, exiting);
    void* from = switch_context(&prev->sp, next->sp, prev);
    arrived(prev, static_cast<fiber*>(from));
}

// First thing in a context after a switch lands in it.
void worker::arrived(fiber* self, fiber* from) noexcept {
    annotate_arrive(self->annot, from ? &from->annot : nullptr);
    if (zombie_) {
        fiber* z = zombie_;
        zombie_ = nullptr;
        retire(z);
    }
}

void worker::fiber_entry(void* from) {
    worker* w = this_worker;
    fiber* self = w->current_;
    w->arrived(self, static_cast<fiber*>(from));
    try {
        self->fn->invoke(self->fn_storage);
    } catch (...) {
        self->error = std::current_exception();
    }
    self->fn->destroy(self->fn_storage);
    fls_destroy_all(self);
    w->exit_current();
}

void worker::exit_current() noexcept {
    fiber* self = current_;
    zombie_ = self;
    // Wake the joiner now so it runs next, instead of detouring through the idle loop.
    if (self->joiner && !self->detached) schedule(self->joiner);
    switch_to(next_runnable(), /*exiting=*/true);
    __builtin_unreachable();
}

// Runs on the next context once an exited fiber's stack is no longer in use.
void worker::retire(fiber* f) noexcept {
    f->state = fiber_state::finished;
    --live_;
    if (f->all_prev) f->all_prev->all_next = f->all_next;
    else all_ = f->all_next;
    if (f->all_next) f->all_next->all_prev = f->all_prev;
    f->all_prev = f->all_next = nullptr;
    if (f->detached) {
        if (f->error) {
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(f->error);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            fatal("weft: uncaught exception in detached fiber '%s' #%llu: %s", f->name,
                  static_cast<unsigned long long>(f->id), what.c_str());
        }
        release(f);
    }
}

void worker::release(fiber* f) noexcept {
    const stack s = f->stk;
    annotate_destroy(f->annot);
    f->~fiber();
    stacks_.release(s);
}

void worker::yield() {
    if (!on_fiber()) fatal("weft: misuse: weft::this_fiber::yield called outside a fiber");
    fiber* self = current_;
    if (++ticks_ % timer_check_interval == 0 && !timers_.empty()) fire_timers(steady_now_ns());
    fiber* next = ready_.pop();
    if (!next) return;
    self->state = fiber_state::ready;
    ready_.push(self);
    switch_to(next);
}

void worker::park() { switch_to(next_runnable()); }

void worker::sleep_until(std::int64_t deadline_ns) {
    if (!on_fiber()) fatal("weft: misuse: weft::this_fiber::sleep_for/sleep_until called outside a fiber");
    if (deadline_ns <= steady_now_ns()) {
        yield();
        return;
    }
    timer_node t;
    t.deadline_ns = deadline_ns;
    t.waiter = current_;
    timers_.push(&t);
    current_->state = fiber_state::sleeping;
    current_->wait_reason = "sleep";
    park();
    timers_.remove(&t);  // woken some other way: the timer must not outlive this frame
}

void worker::join(fiber* f) {
    if (f->state != fiber_state::finished) {
        if (!on_fiber())
            fatal("weft: misuse: join of unfinished fiber '%s' #%llu called outside a fiber",
                  f->name, static_cast<unsigned long long>(f->id));
        WEFT_ASSERT(f->joiner == nullptr, "a fiber has one joiner");
        f->joiner = current_;
        current_->state = fiber_state::blocked;
        current_->wait_reason = "join";
        park();
        WEFT_ASSERT(f->state == fiber_state::finished, "woken joiner sees a finished fiber");
    }
    std::exception_ptr error = std::move(f->error);
    release(f);
    if (error) std::rethrow_exception(error);
}

void worker::detach(fiber* f) noexcept {
    if (f->state == fiber_state::finished) release(f);
    else f->detached = true;
}

void worker::loop() {
    while (live_ > 0) {
        if (!timers_.empty()) fire_timers(steady_now_ns());
        if (fiber* f = ready_.pop()) {
            switch_to(f);
            continue;
        }
        stacks_.trim();  // idle: a good moment for the syscalls that give memory back
        if (timer_node* t = timers_.top()) {
            timespec ts{static_cast<time_t>(t->deadline_ns / 1'000'000'000),
                        static_cast<long>(t->deadline_ns % 1'000'000'000)};
            while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
            }
            continue;
        }
        report_deadlock();
    }
}

void worker::dump(std::ostream& os) const {
    std::size_t n = 0;
    for (fiber* f = all_; f; f = f->all_next) ++n;
    os << n << (n == 1 ? " fiber" : " fibers") << ":\n";
    for (fiber* f = all_; f; f = f->all_next) {
        os << "  #" << f->id << " '" << f->name << "' " << to_string(f->state);
        if (*f->wait_reason) os << " on " << f->wait_reason;
        os << " (stack " << f->stk.size / 1024 << " KiB)\n";
    }
}

void worker::report_deadlock() const {
    std::ostringstream os;
    dump(os);
    fatal("weft: deadlock: all fibers are blocked\n%s", os.str().c_str());
}

fls_table& thread_fls_table();

fls_table& current_fls_table() {
    worker* w = this_worker;
    if (!w || !w->on_fiber()) return thread_fls_table();
    fiber* f = w->running();
    if (!f->fls) f->fls = new fls_table();
    return *f->fls;
}

}  // namespace weft::detail
