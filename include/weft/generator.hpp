// generator<T>: a function running on its own stack hands values to its consumer
// one at a time with weft::yield(v), from any depth of ordinary nested calls.
#pragma once

#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "weft/fiber.hpp"

namespace weft {

struct generator_options {
    // Reserved per generator; only touched pages cost memory. Rounded up to
    // pages, at least 16 KiB; a page below it is a guard.
    std::size_t stack_size = default_stack_size;
};

namespace detail {

// A per-type identity with a readable name, for the check that a yielded
// value has the generator's element type. No RTTI needed.
using yield_type_fn = const char* (*)() noexcept;
template <class V>
const char* yield_type_name() noexcept {
    return __PRETTY_FUNCTION__;
}

// The context switch, out of line in libweft (src/generator/generator.cpp):
// the switch itself is internal to the library and declared in no public
// header. It is a plain jump to the switch, so the common resume and yield
// still make one call from the caller's loop and return nowhere in between:
// a return between two switches is mispredicted, and costs more than the switch.
void* generator_switch(void** save_sp, void* to_sp, void* arg);

// Code built with ASan or TSan takes the out-of-line path, which tells the
// sanitizer about every switch. (A library built with them turns the inline
// path off at run time, see fast_owner_.)
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT_GENERATOR_INLINE_SWITCH 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WEFT_GENERATOR_INLINE_SWITCH 0
#endif
#endif
#ifndef WEFT_GENERATOR_INLINE_SWITCH
#define WEFT_GENERATOR_INLINE_SWITCH 1
#endif

class generator_core;
// The generator whose body runs on this thread (null on the consumer side).
// __thread, not thread_local: no initialization wrapper on the switch path.
extern __thread generator_core* current_generator __attribute__((tls_model("initial-exec")));

struct generator_frame;  // at the top of the generator's stack; see generator.cpp

// Everything of a generator that does not depend on T or the body's type.
class generator_core {
public:
    generator_core(const generator_core&) = delete;
    generator_core& operator=(const generator_core&) = delete;
    virtual ~generator_core();

    // Runs the body until its next yield or its end. The first call takes a
    // stack from the calling thread's pool (std::system_error when none can
    // be mapped). Rethrows, once, an exception that escaped the body.
    void resume() {
#if WEFT_GENERATOR_INLINE_SWITCH
        generator_core*& current = current_generator;
        if (state_ == state::suspended && current == nullptr && fast_owner_ == &current_generator)
            [[likely]] {
            current = this;
            state_ = state::running;
            generator_switch(&caller_sp_, sp_, this);
            current = nullptr;
            if (state_ == state::finished) [[unlikely]]
                ended();
            return;
        }
#endif
        resume_slow();
    }
    // Unwinds a suspended body (its pending yield throws), so destructors of
    // its locals run. Must run before the body's callable is destroyed.
    void close() noexcept;

    bool finished() const noexcept { return state_ == state::finished; }
    bool started() const noexcept { return state_ != state::created; }
    // The value the body is suspended on (it lives on the body's stack), or
    // null when it has been taken.
    void* value() const noexcept { return value_; }
    void take_value() noexcept { value_ = nullptr; }

    // Hands *value to the consumer and suspends the running body.
    template <class V>
    static void yield_value(V* value) {
        [[maybe_unused]] constexpr yield_type_fn type = &yield_type_name<V>;
#if WEFT_GENERATOR_INLINE_SWITCH
        generator_core* g = current_generator;
        const char* here = static_cast<const char*>(__builtin_frame_address(0));
        // Anything unusual (outside a body, wrong type, unwinding, a body
        // that blocked and left another fiber here) goes the slow way, which
        // says what is wrong.
        if (g && g->fast_type_ == type && here >= g->stack_lo_ && here < g->stack_hi_) [[likely]] {
            g->value_ = value;
            g->state_ = state::suspended;
            generator_switch(&g->sp_, g->caller_sp_, nullptr);
            if (g->unwinding_) [[unlikely]]
                throw_unwind();
            return;
        }
#endif
        yield_slow(value, type);
    }

protected:
    generator_core(yield_type_fn type, std::size_t stack_size) noexcept
        : type_(type), stack_size_(stack_size) {}
    virtual void run() = 0;  // calls the body

private:
    friend struct generator_access;
    enum class state : unsigned char { created, suspended, running, finished };

    void resume_slow();
    void ended();  // the body returned or threw: give the stack back, rethrow
    static void yield_slow(void* value, yield_type_fn type);
    [[noreturn]] static void throw_unwind();

    void* sp_ = nullptr;         // the body's, while it is suspended
    void* caller_sp_ = nullptr;  // the consumer's, while the body runs
    const char* stack_lo_ = nullptr;  // the body's stack, while it has one
    const char* stack_hi_ = nullptr;
    // &current_generator of the starting thread, and the element type, when
    // the inline path may be taken; null sends every switch the slow way.
    const void* fast_owner_ = nullptr;
    yield_type_fn fast_type_ = nullptr;
    generator_frame* frame_ = nullptr;  // while it has a stack
    generator_core* prev_ = nullptr;    // the generator running when this one was resumed
    void* value_ = nullptr;
    yield_type_fn type_;
    std::size_t stack_size_;
    std::exception_ptr error_;
    state state_ = state::created;
    bool unwinding_ = false;
};

template <class F>
class generator_body final : public generator_core {
public:
    template <class G>
    generator_body(G&& fn, yield_type_fn type, std::size_t stack_size)
        : generator_core(type, stack_size), fn_(std::forward<G>(fn)) {}

private:
    void run() override { fn_(); }
    F fn_;
};

}  // namespace detail

// Yields v to the consumer of the generator whose body is running, from any
// depth of nested calls, and returns when the consumer asks for the next value.
// The type of v must be the generator's element type exactly; convert at the
// call with weft::yield<T>(v). An rvalue is handed over in place and moved
// (never copied) into the consumer; an lvalue is copied once, because the
// consumer may move from what it receives. Fatal outside a generator body.
template <class U>
void yield(U&& v) {
    using V = std::remove_cvref_t<U>;
    if constexpr (std::is_lvalue_reference_v<U> || std::is_const_v<std::remove_reference_t<U>>) {
        static_assert(std::is_copy_constructible_v<V>,
                      "weft::yield of an lvalue copies it: std::move a move-only value into yield");
        V copy(v);
        detail::generator_core::yield_value<V>(std::addressof(copy));
    } else {
        detail::generator_core::yield_value<V>(std::addressof(v));
    }
}

// A lazily started, stackful generator of T values.
//
//   weft::generator<int> g([] { for (int i = 0; i < 3; ++i) weft::yield(i); });
//   for (int v : g) ...;            // or: while (auto v = g.next()) ...
//
// The body runs on its own stack (generator_options::stack_size) from the
// first next()/begin(), on the consumer's thread: inside weft::run it runs in
// the consuming fiber's stead, so this_fiber::id() and fiber_local values in
// the body are the consumer's. A body may consume other generators; their
// yields go to their own consumers.
//
// Rules for the body:
//  - It must not block: no sleep, socket I/O, join, mutex wait or
//    this_fiber::yield. Those would switch the worker away while the
//    generator's stack is running, in the consumer fiber's place. A later
//    weft::yield or resume from another context detects it and is fatal.
//  - An exception escaping it is rethrown by the next()/++ that ran it;
//    after that the generator is finished.
//  - When a generator is destroyed while suspended, its pending yield throws
//    a private exception so the body's locals are destroyed. catch (...) in
//    the body must rethrow it (`throw;`); swallowing it is fatal.
//  - Do not yield from inside a catch handler: the C++ runtime keeps one
//    stack of handled exceptions per thread, shared with the consumer.
//
// A started generator belongs to the thread that started it: resuming or
// destroying it elsewhere is fatal. One that is not started, or finished,
// owns no stack and may move anywhere.
template <class T>
class generator {
    static_assert(std::is_object_v<T> && !std::is_array_v<T> && !std::is_const_v<T> &&
                      !std::is_volatile_v<T>,
                  "weft::generator<T>: T must be a cv-unqualified object type");

public:
    using value_type = T;
    using reference = T&&;

    class iterator {
    public:
        using value_type = T;
        using reference = T&&;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::input_iterator_tag;

        iterator() noexcept = default;
        // The value in place on the body's stack; move from it to keep it.
        T&& operator*() const noexcept { return static_cast<T&&>(*static_cast<T*>(core_->value())); }
        T* operator->() const noexcept { return static_cast<T*>(core_->value()); }
        iterator& operator++() {
            core_->resume();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
            return !it.core_ || it.core_->finished();
        }

    private:
        friend class generator;
        explicit iterator(detail::generator_core* c) noexcept : core_(c) {}
        detail::generator_core* core_ = nullptr;
    };

    generator() noexcept = default;  // empty: yields nothing

    // Stores body (the callable, not started) and the stack size.
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, generator> &&
                 std::is_invocable_v<std::decay_t<F>&>)
    explicit generator(F&& body, generator_options opts = {})
        : core_(new detail::generator_body<std::decay_t<F>>(
              std::forward<F>(body), &detail::yield_type_name<T>, opts.stack_size)) {}

    generator(generator&& o) noexcept : core_(std::exchange(o.core_, nullptr)) {}
    generator& operator=(generator&& o) noexcept {
        if (this != &o) {
            reset();
            core_ = std::exchange(o.core_, nullptr);
        }
        return *this;
    }
    ~generator() { reset(); }

    // The next value, or nullopt once the body has returned (and on every
    // later call). Rethrows an exception that escaped the body.
    std::optional<T> next() {
        if (!core_ || core_->finished()) return std::nullopt;
        core_->resume();
        if (core_->finished()) return std::nullopt;
        T* v = static_cast<T*>(core_->value());
        core_->take_value();
        return std::optional<T>(std::in_place, std::move(*v));
    }

    // Starts the body if needed and returns an iterator at the first value
    // that next() has not taken.
    iterator begin() {
        if (core_ && !core_->finished() && !core_->value()) core_->resume();
        return iterator(core_);
    }
    std::default_sentinel_t end() const noexcept { return {}; }

    // True once the body has returned or thrown (or for an empty generator).
    bool done() const noexcept { return !core_ || core_->finished(); }

private:
    void reset() noexcept {
        if (!core_) return;
        core_->close();
        delete core_;
        core_ = nullptr;
    }
    detail::generator_core* core_ = nullptr;
};

}  // namespace weft
