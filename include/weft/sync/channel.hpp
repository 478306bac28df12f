// weft::channel<T>: a typed FIFO between fibers (on any worker) and plain
// threads. A blocking call parks the fiber (or blocks a plain thread), never
// the worker.
//
//   weft::channel<int> ch(16);                       // bounded: 16 values
//   weft::channel<int> rv;                           // capacity 0: rendezvous
//   auto q = weft::channel<std::string>::unbounded();
//   ch.send(1);                                      // parks while full
//   std::optional<int> v = ch.recv();                // nullopt: closed and drained
//   ch.close();                                      // no more sends
//   for (int& x : ch) use(x);                        // until closed and drained
//
// Capacity. channel(n) holds up to n values; a send parks while n values wait.
// channel(0) is a rendezvous: send() completes only when a receiver takes the
// value. channel<T>::unbounded() (or channel(weft::unbounded)) never parks a
// sender; its buffer grows as needed (and can throw std::bad_alloc).
//
// Closing. close() makes every later send fail with std::errc::broken_pipe
// and wakes all parked senders with that error; their values stay with them
// (see "Values on failure"). Values already buffered are still delivered:
// recv() returns them in order, then std::nullopt for ever. Receivers parked
// on an empty channel wake with std::nullopt. close() is idempotent.
//
// Values on failure. send(T&&) moves from its argument only when the value is
// actually handed over (buffered or taken by a receiver). When a send fails
// (closed, timed out, canceled, or try_send finds no room) the argument is
// left untouched, so the caller still owns the value. send(const T&) copies,
// so the original is never touched.
//
// Deadlines and cancellation. Every blocking call (send, recv, select, the
// iterator) honours an enclosing weft::deadline_scope (fails with
// std::errc::timed_out) and fiber_handle::cancel() (fails with
// std::errc::operation_canceled); the *_for / *_until forms add a deadline of
// their own (std::errc::timed_out). A call that can complete at once does so
// even when the deadline has passed or the fiber is canceled. The plain forms
// throw std::system_error with those codes; the forms taking a
// std::error_code& report them there instead. recv() reporting closed is not
// an error: std::nullopt with a cleared error_code.
//
// Requirements on T: an object type whose move constructor and destructor are
// noexcept (values move while the channel's spinlock is held). Move-only
// types are fine. A channel must outlive every operation on it; destroying
// one with parked senders or receivers is a fatal error. Not movable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "weft/deadline.hpp"
#include "weft/detail/wait_queue.hpp"

namespace weft {

// Tag for an unbounded channel: weft::channel<T> ch(weft::unbounded);
struct unbounded_t {
    explicit unbounded_t() = default;
};
inline constexpr unbounded_t unbounded{};

template <class T>
class channel;

namespace detail {

struct waiter;

// One parked channel operation: a lone send/recv, or one case of a select.
// Every case of one select points at the same waiter, so exactly one of them
// can be claimed. Lives in the waiting caller's frame; guarded by the lock of
// the channel whose list it is in.
struct chan_node {
    chan_node* prev = nullptr;
    chan_node* next = nullptr;
    waiter* w = nullptr;
    void* value = nullptr;  // send: the T to move from; recv: raw storage for a T
    bool linked = false;
    bool done = false;    // completed by the claimer (under the channel lock)
    bool closed = false;  // completed because the channel was closed
};

class chan_node_list {
public:
    bool empty() const noexcept { return head_ == nullptr; }
    void push_back(chan_node* n) noexcept {
        n->next = nullptr;
        n->prev = tail_;
        if (tail_) tail_->next = n;
        else head_ = n;
        tail_ = n;
        n->linked = true;
    }
    void remove(chan_node* n) noexcept {
        if (!n->linked) return;
        if (n->prev) n->prev->next = n->next;
        else head_ = n->next;
        if (n->next) n->next->prev = n->prev;
        else tail_ = n->prev;
        n->prev = n->next = nullptr;
        n->linked = false;
    }
    chan_node* pop_front() noexcept {
        chan_node* n = head_;
        if (n) remove(n);
        return n;
    }

private:
    chan_node* head_ = nullptr;
    chan_node* tail_ = nullptr;
};

// What the type-erased channel core needs to know about T.
struct chan_elem_ops {
    std::size_t size;
    std::size_t align;
    void (*move_construct)(void* dst, void* src) noexcept;  // new (dst) T(std::move(*src))
    void (*destroy)(void* p) noexcept;
};

template <class T>
inline constexpr chan_elem_ops chan_elem_ops_for{
    sizeof(T),
    alignof(T),
    [](void* dst, void* src) noexcept { ::new (dst) T(std::move(*static_cast<T*>(src))); },
    [](void* p) noexcept { static_cast<T*>(p)->~T(); },
};

inline constexpr std::size_t chan_unbounded = SIZE_MAX;

// The non-template part of a channel: lock, waiter lists and a type-erased
// ring buffer. Everything but the public members is used by chan_engine only.
class chan_core {
public:
    chan_core(const chan_elem_ops& ops, std::size_t capacity) noexcept : ops_(ops), cap_(capacity) {}
    ~chan_core();
    chan_core(const chan_core&) = delete;
    chan_core& operator=(const chan_core&) = delete;

    bool close() noexcept;
    bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
    std::size_t size() const noexcept;
    std::size_t capacity() const noexcept { return cap_; }

private:
    friend struct chan_engine;

    void* slot(std::size_t i) const noexcept;  // i-th buffered value, 0 = oldest
    void push(void* src);                      // count_ < cap_; may grow (and throw)
    void pop(void* dst) noexcept;              // count_ > 0; relocates the oldest to dst

    const chan_elem_ops& ops_;
    const std::size_t cap_;
    mutable spinlock lock_;
    chan_node_list senders_;    // parked only while full (or capacity 0) and open
    chan_node_list receivers_;  // parked only while empty and open
    unsigned char* buf_ = nullptr;
    std::size_t slots_ = 0;  // allocated
    std::size_t head_ = 0;
    std::size_t count_ = 0;
    std::atomic<bool> closed_{false};  // written under lock_
};

// One operation handed to chan_run; the node is its parking record.
struct chan_op {
    chan_core* ch = nullptr;
    void* value = nullptr;  // send: T to move from on success; recv: raw storage a T is built in
    bool send = false;
    chan_node node;
};

struct chan_result {
    int index = -1;     // the op that completed, -1 when none did
    bool closed = false;  // it completed because its channel is closed (recv: no value)
    bool own_deadline = false;  // err == timed_out and deadline_ns itself has passed
    // operation_would_block (not blocking), timed_out, operation_canceled; a
    // plain enum, since a std::error_code costs a call to make even when empty.
    std::errc err{};
    bool ok() const noexcept { return err == std::errc(); }
};

// Completes one of ops[0..n) that is ready, starting at a random one; when
// none is and `blocking`, parks on all of them until one completes, the
// deadline (steady ns, INT64_MAX none; min'd with the deadline_scope) passes
// or the fiber is canceled. Throws std::bad_alloc (a growing buffer) or
// std::system_error (the worker's reactor could not be made).
chan_result chan_run(chan_op* ops, std::size_t n, std::int64_t deadline_ns, bool blocking);

[[noreturn]] void chan_throw(std::error_code ec, const char* what);
// For select over timers (weft/timer.hpp): the steady clock the waits use, and
// the random numbers that pick among ready cases.
std::int64_t chan_now_ns() noexcept;
std::uint64_t chan_random() noexcept;

struct chan_access;

template <class T>
union chan_slot {
    chan_slot() noexcept {}
    ~chan_slot() {}
    T value;
};

}  // namespace detail

template <class T>
class channel {
    static_assert(std::is_object_v<T> && !std::is_array_v<T> && !std::is_const_v<T>,
                  "weft::channel<T>: T must be a non-const object type");
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                  "weft::channel<T>: T's move constructor and destructor must be noexcept");

public:
    using value_type = T;

    // capacity 0: rendezvous.
    explicit channel(std::size_t capacity = 0) noexcept : core_(detail::chan_elem_ops_for<T>, capacity) {}
    explicit channel(unbounded_t) noexcept : core_(detail::chan_elem_ops_for<T>, detail::chan_unbounded) {}
    static channel unbounded() noexcept { return channel(unbounded_t{}); }
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;

    // ---- send ----
    // Parks while the channel is full. Throws std::system_error: broken_pipe
    // (closed), timed_out (deadline_scope), operation_canceled. On failure v
    // is not moved from.
    void send(T&& v) { send_until(std::move(v), deadline::none()); }
    void send(const T& v) { send(T(v)); }
    bool send(T&& v, std::error_code& ec) { return send_until(std::move(v), deadline::none(), ec); }
    bool send(const T& v, std::error_code& ec) {
        T copy(v);
        return send(std::move(copy), ec);
    }

    void send_until(T&& v, deadline d) {
        const std::errc e = do_send(v, d.steady_ns(), true);
        if (e != std::errc()) detail::chan_throw(std::make_error_code(e), "weft::channel::send");
    }
    void send_until(const T& v, deadline d) { send_until(T(v), d); }
    bool send_until(T&& v, deadline d, std::error_code& ec) {
        return report(do_send(v, d.steady_ns(), true), ec);
    }
    bool send_until(const T& v, deadline d, std::error_code& ec) {
        T copy(v);
        return send_until(std::move(copy), d, ec);
    }
    template <class Rep, class Period>
    void send_for(T&& v, const std::chrono::duration<Rep, Period>& d) {
        send_until(std::move(v), deadline(d));
    }
    template <class Rep, class Period>
    void send_for(const T& v, const std::chrono::duration<Rep, Period>& d) {
        send_until(v, deadline(d));
    }
    template <class Rep, class Period>
    bool send_for(T&& v, const std::chrono::duration<Rep, Period>& d, std::error_code& ec) {
        return send_until(std::move(v), deadline(d), ec);
    }
    template <class Rep, class Period>
    bool send_for(const T& v, const std::chrono::duration<Rep, Period>& d, std::error_code& ec) {
        return send_until(v, deadline(d), ec);
    }

    // Never parks. False when there is no room right now or the channel is
    // closed (the error_code form tells which: operation_would_block or
    // broken_pipe); v is then not moved from.
    bool try_send(T&& v) { return do_send(v, INT64_MAX, false) == std::errc(); }
    bool try_send(const T& v) {
        T copy(v);
        return try_send(std::move(copy));
    }
    bool try_send(T&& v, std::error_code& ec) { return report(do_send(v, INT64_MAX, false), ec); }

    // ---- recv ----
    // The oldest value; parks while the channel is empty and open. nullopt
    // once it is closed and drained. Throws std::system_error: timed_out
    // (deadline_scope, or the deadline of recv_for/until), operation_canceled.
    std::optional<T> recv() { return recv_until(deadline::none()); }
    std::optional<T> recv(std::error_code& ec) { return recv_until(deadline::none(), ec); }
    std::optional<T> recv_until(deadline d) {
        std::errc e;
        std::optional<T> v = do_recv(d.steady_ns(), true, e);
        if (e != std::errc()) detail::chan_throw(std::make_error_code(e), "weft::channel::recv");
        return v;
    }
    std::optional<T> recv_until(deadline d, std::error_code& ec) {
        std::errc e;
        std::optional<T> v = do_recv(d.steady_ns(), true, e);
        report(e, ec);
        return v;
    }
    template <class Rep, class Period>
    std::optional<T> recv_for(const std::chrono::duration<Rep, Period>& d) {
        return recv_until(deadline(d));
    }
    template <class Rep, class Period>
    std::optional<T> recv_for(const std::chrono::duration<Rep, Period>& d, std::error_code& ec) {
        return recv_until(deadline(d), ec);
    }

    // Never parks. nullopt when empty or closed-and-drained; the error_code
    // form sets operation_would_block for "empty, still open" and clears it
    // for "closed and drained".
    std::optional<T> try_recv() {
        std::errc e;
        return do_recv(INT64_MAX, false, e);
    }
    std::optional<T> try_recv(std::error_code& ec) {
        std::errc e;
        std::optional<T> v = do_recv(INT64_MAX, false, e);
        report(e, ec);
        return v;
    }

    // ---- state ----
    // True when this call closed it; false when it already was.
    bool close() noexcept { return core_.close(); }
    bool closed() const noexcept { return core_.closed(); }
    std::size_t size() const noexcept { return core_.size(); }  // buffered values, a snapshot
    std::size_t capacity() const noexcept { return core_.capacity(); }  // SIZE_MAX: unbounded

    // ---- range-for: receives until closed and drained ----
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using pointer = T*;
        using reference = T&;

        iterator() = default;
        T& operator*() const noexcept { return *cur_; }
        T* operator->() const noexcept { return std::addressof(*cur_); }
        iterator& operator++() {
            cur_ = ch_->recv();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return !it.cur_; }

    private:
        friend class channel;
        explicit iterator(channel* ch) : ch_(ch) { ++*this; }
        channel* ch_ = nullptr;
        mutable std::optional<T> cur_;
    };
    // Each step is a recv(): it parks, and throws as recv() does.
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    friend struct detail::chan_access;

    // The error codes are made only in the forms that report one.
    static bool report(std::errc e, std::error_code& ec) noexcept {
        if (e == std::errc()) {
            ec.clear();
            return true;
        }
        ec = std::make_error_code(e);
        return false;
    }

    // std::errc() when v was handed over; otherwise v is untouched.
    std::errc do_send(T& v, std::int64_t deadline_ns, bool blocking) {
        detail::chan_op op;
        op.ch = &core_;
        op.value = std::addressof(v);
        op.send = true;
        const detail::chan_result r = detail::chan_run(&op, 1, deadline_ns, blocking);
        if (!r.ok()) return r.err;
        return r.closed ? std::errc::broken_pipe : std::errc();
    }

    // e: std::errc() also when closed and drained (nullopt).
    std::optional<T> do_recv(std::int64_t deadline_ns, bool blocking, std::errc& e) {
        detail::chan_slot<T> slot;
        detail::chan_op op;
        op.ch = &core_;
        op.value = std::addressof(slot.value);
        const detail::chan_result r = detail::chan_run(&op, 1, deadline_ns, blocking);
        e = r.err;
        std::optional<T> out;
        if (r.ok() && !r.closed) {
            out.emplace(std::move(slot.value));
            slot.value.~T();
        }
        return out;
    }

    detail::chan_core core_;
};

}  // namespace weft
