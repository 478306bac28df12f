// Channels and select on top of waiters.
//
// A select of several ops goes through run_many(): lock every channel
// involved (in address order), complete the first ready op from a random
// start, otherwise link one node per op, all pointing at one waiter, and
// block. Whoever completes a parked op does it under that channel's lock: it
// claims the waiter (exactly one claim can succeed, so a select fires once),
// moves the value (into the receiver's storage, or out of the sender's),
// marks the node done, and delivers after unlocking. The parked side, once
// block() returns, takes every lock again to unlink its remaining nodes and
// read which one was done; that lock round also keeps the nodes and values
// alive for as long as a claimer may touch them.
//
// A lone send or recv (the common case) takes run_one(): one lock, one try,
// and only when that fails a waiter. Once notified it needs no second lock
// round: its only node was unlinked by the claimer, who wrote the result
// before deliver() stored `notified` (release), and touches nothing after.
#include "weft/sync/channel.hpp"

#include <algorithm>
#include <functional>
#include <new>
#include <vector>

#include "common/assert.hpp"
#include "sched/wait.hpp"
#include "sched/wait.hpp"

namespace weft::detail {

// ---- the ring buffer ----------------------------------------------------------

chan_core::~chan_core() {
    WEFT_ASSERT(senders_.empty() && receivers_.empty(), "a channel destroyed with parked senders or receivers");
    for (std::size_t i = 0; i < count_; ++i) ops_.destroy(slot(i));
    if (buf_) ::operator delete(buf_, std::align_val_t(ops_.align));
}

void* chan_core::slot(std::size_t i) const noexcept {
    std::size_t k = head_ + i;
    if (k >= slots_) k -= slots_;
    return buf_ + k * ops_.size;
}

void chan_core::push(void* src) {
    if (count_ == slots_) {
        // Grow: allocate first, so a bad_alloc leaves everything as it was.
        std::size_t want = slots_ ? slots_ * 2 : 16;
        if (want < slots_ || want > cap_) want = cap_;  // overflow, or the capacity bounds it
        auto* nb = static_cast<unsigned char*>(::operator new(want * ops_.size, std::align_val_t(ops_.align)));
        for (std::size_t i = 0; i < count_; ++i) {
            void* old = slot(i);
            ops_.move_construct(nb + i * ops_.size, old);
            ops_.destroy(old);
        }
        if (buf_) ::operator delete(buf_, std::align_val_t(ops_.align));
        buf_ = nb;
        slots_ = want;
        head_ = 0;
    }
    ops_.move_construct(slot(count_), src);
    ++count_;
}

void chan_core::pop(void* dst) noexcept {
    void* front = slot(0);
    ops_.move_construct(dst, front);
    ops_.destroy(front);
    if (++head_ == slots_) head_ = 0;
    --count_;
}

std::size_t chan_core::size() const noexcept {
    lock_.lock();
    const std::size_t n = count_;
    lock_.unlock();
    return n;
}

// ---- the engine ---------------------------------------------------------------

namespace {

std::uint64_t next_random() noexcept {
    thread_local std::uint64_t s = 0;
    if (s == 0) {
        s = static_cast<std::uint64_t>(steady_now_ns()) ^ reinterpret_cast<std::uintptr_t>(&s) ^
            0x9E3779B97F4A7C15ull;
        if (s == 0) s = 1;
    }
    s ^= s >> 12;  // xorshift64*
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
}

// The distinct channels of a set of ops, locked in address order.
class lock_set {
public:
    lock_set(chan_op* ops, std::size_t n) {
        chan_core** p = small_;
        if (n > std::size(small_)) {
            big_.resize(n);
            p = big_.data();
        }
        for (std::size_t i = 0; i < n; ++i) p[i] = ops[i].ch;
        std::sort(p, p + n, std::less<chan_core*>());
        n_ = static_cast<std::size_t>(std::unique(p, p + n) - p);
        cores_ = p;
    }
    void lock() noexcept {
        for (std::size_t i = 0; i < n_; ++i) lock_of(cores_[i]).lock();
    }
    void unlock() noexcept {
        for (std::size_t i = n_; i-- > 0;) lock_of(cores_[i]).unlock();
    }
    static spinlock& lock_of(chan_core* c) noexcept;

private:
    chan_core* small_[8];
    std::vector<chan_core*> big_;
    chan_core** cores_ = nullptr;
    std::size_t n_ = 0;
};

}  // namespace

struct chan_engine {
    static spinlock& lock_of(chan_core* c) noexcept { return c->lock_; }

    // Pops parked nodes until one can be claimed.
    static chan_node* claim_front(chan_node_list& list, wake_target& t) noexcept {
        while (chan_node* n = list.pop_front())
            if (claim(*n->w, t)) return n;  // else: it timed out, was canceled, or its select fired elsewhere
        return nullptr;
    }

    // Under the channel's lock: completes op now if it can. `woke` is set when
    // a parked op was completed too and t must be delivered after unlocking.
    static bool try_op(chan_op& op, wake_target& t, bool& woke, bool& closed) {
        chan_core& c = *op.ch;
        if (op.send) {
            if (c.closed_.load(std::memory_order_relaxed)) {
                closed = true;
                return true;
            }
            if (chan_node* r = claim_front(c.receivers_, t)) {  // only while empty
                c.ops_.move_construct(r->value, op.value);
                r->done = true;
                woke = true;
                return true;
            }
            if (c.count_ < c.cap_) {
                c.push(op.value);  // may throw bad_alloc: nothing changed then
                return true;
            }
            return false;
        }
        if (c.count_ > 0) {
            c.pop(op.value);
            // A slot is free: the longest-parked sender's value takes it.
            if (chan_node* s = claim_front(c.senders_, t)) {
                c.push(s->value);  // no growth: the buffer had count_ + 1 slots
                s->done = true;
                woke = true;
            }
            return true;
        }
        if (chan_node* s = claim_front(c.senders_, t)) {  // rendezvous
            c.ops_.move_construct(op.value, s->value);
            s->done = true;
            woke = true;
            return true;
        }
        if (c.closed_.load(std::memory_order_relaxed)) {
            closed = true;
            return true;
        }
        return false;
    }

    // One op, no select machinery: try first, and prepare a waiter only when
    // the op must park. prepare_wait then runs under the lock, which saves a
    // second lock round and try: it reads the clock only when there is a
    // deadline, and makes the worker's reactor only on the worker's first wait.
    static chan_result run_one(chan_op& op, std::int64_t deadline_ns, bool blocking) {
        chan_core& c = *op.ch;
        wake_target t{};
        bool woke = false;
        bool closed = false;
        c.lock_.lock();
        if (try_locked(op, t, woke, closed)) return completed(c, t, woke, closed);
        if (!blocking) {
            c.lock_.unlock();
            return failed(std::errc::operation_would_block, deadline_ns);
        }
        waiter w;
        std::int64_t d = deadline_ns;
        wait_outcome pre;
        try {
            pre = prepare_wait(w, d, /*cancelable=*/true);
        } catch (...) {
            c.lock_.unlock();
            throw;
        }
        if (pre != wait_outcome::waiting) {
            c.lock_.unlock();
            return failed(pre == wait_outcome::canceled ? std::errc::operation_canceled : std::errc::timed_out,
                          deadline_ns);
        }
        arm(w, op.send ? wait_reason::channel_send : wait_reason::channel_recv);
        chan_node& nd = op.node;
        nd.w = &w;
        nd.value = op.value;
        nd.done = nd.closed = false;
        chan_node_list& list = op.send ? c.senders_ : c.receivers_;
        list.push_back(&nd);
        c.lock_.unlock();

        const wait_outcome out = block(w, d, /*cancelable=*/true);
        chan_result r;
        if (out == wait_outcome::notified) {
            WEFT_ASSERT(nd.done && !nd.linked, "a notified channel wait has no completed op");
            r.index = 0;
            r.closed = nd.closed;
            return r;
        }
        // Timed out or canceled: no claimer took the node, so it is still linked.
        c.lock_.lock();
        list.remove(&nd);
        c.lock_.unlock();
        WEFT_ASSERT(!nd.done, "a channel wait completed after it timed out");
        return failed(out == wait_outcome::canceled ? std::errc::operation_canceled : std::errc::timed_out,
                      deadline_ns);
    }

    // try_op under c's lock, which it releases when the op is not done
    // because it threw.
    static bool try_locked(chan_op& op, wake_target& t, bool& woke, bool& closed) {
        try {
            return try_op(op, t, woke, closed);
        } catch (...) {
            op.ch->lock_.unlock();
            throw;
        }
    }

    // The op completed under c's lock: release it, then wake the partner.
    static chan_result completed(chan_core& c, const wake_target& t, bool woke, bool closed) noexcept {
        c.lock_.unlock();
        if (woke) deliver(t);
        chan_result r;
        r.index = 0;
        r.closed = closed;
        return r;
    }

    static chan_result run_many(chan_op* ops, std::size_t n, std::int64_t deadline_ns, bool blocking) {
        waiter w;
        std::int64_t d = deadline_ns;
        wait_outcome pre = wait_outcome::waiting;
        // Before any lock: may throw, and reads the clock.
        if (blocking) pre = prepare_wait(w, d, /*cancelable=*/true);

        lock_set locks(ops, n);
        const std::size_t start = n > 1 ? static_cast<std::size_t>(next_random() % n) : 0;
        wake_target t{};
        bool woke = false;
        locks.lock();
        for (std::size_t k = 0; k < n; ++k) {
            std::size_t i = start + k;
            if (i >= n) i -= n;
            bool closed = false;
            bool done;
            try {
                done = try_op(ops[i], t, woke, closed);
            } catch (...) {
                locks.unlock();
                throw;
            }
            if (done) {
                locks.unlock();
                if (woke) deliver(t);
                chan_result r;
                r.index = static_cast<int>(i);
                r.closed = closed;
                return r;
            }
        }
        if (!blocking || pre != wait_outcome::waiting) {
            locks.unlock();
            if (!blocking) return failed(std::errc::operation_would_block, deadline_ns);
            return failed(pre == wait_outcome::canceled ? std::errc::operation_canceled : std::errc::timed_out,
                          deadline_ns);
        }

        arm(w, wait_reason::select);
        for (std::size_t i = 0; i < n; ++i) {
            chan_node& nd = ops[i].node;
            nd.w = &w;
            nd.value = ops[i].value;
            nd.done = nd.closed = false;
            chan_core& c = *ops[i].ch;
            (ops[i].send ? c.senders_ : c.receivers_).push_back(&nd);
        }
        locks.unlock();

        const wait_outcome out = block(w, d, /*cancelable=*/true);

        // Unlink what is still linked, and learn which op (if any) was completed.
        chan_result r;
        locks.lock();
        for (std::size_t i = 0; i < n; ++i) {
            chan_node& nd = ops[i].node;
            chan_core& c = *ops[i].ch;
            (ops[i].send ? c.senders_ : c.receivers_).remove(&nd);
            if (nd.done) {
                WEFT_ASSERT(r.index < 0, "a select completed twice");
                r.index = static_cast<int>(i);
                r.closed = nd.closed;
            }
        }
        locks.unlock();
        if (out == wait_outcome::notified) {
            WEFT_ASSERT(r.index >= 0, "a notified channel wait has no completed op");
            return r;
        }
        WEFT_ASSERT(r.index < 0, "a channel wait completed after it timed out");
        return failed(out == wait_outcome::canceled ? std::errc::operation_canceled : std::errc::timed_out,
                      deadline_ns);
    }

    static chan_result failed(std::errc e, std::int64_t deadline_ns) noexcept {
        chan_result r;
        r.err = e;
        r.own_deadline =
            e == std::errc::timed_out && deadline_ns != no_deadline && steady_now_ns() >= deadline_ns;
        return r;
    }

    static bool close(chan_core& c) noexcept {
        c.lock_.lock();
        if (c.closed_.load(std::memory_order_relaxed)) {
            c.lock_.unlock();
            return false;
        }
        c.closed_.store(true, std::memory_order_release);
        // No op parks once closed_ is set, so the lists only shrink: claim
        // in batches and deliver each batch with the lock released.
        for (;;) {
            wake_target batch[32];
            std::size_t k = 0;
            while (k < std::size(batch)) {
                chan_node* nd = claim_front(c.receivers_, batch[k]);
                if (!nd) nd = claim_front(c.senders_, batch[k]);
                if (!nd) break;
                nd->done = true;
                nd->closed = true;
                ++k;
            }
            c.lock_.unlock();
            for (std::size_t i = 0; i < k; ++i) deliver(batch[i]);
            if (k < std::size(batch)) return true;
            c.lock_.lock();
        }
    }
};

namespace {
spinlock& lock_set::lock_of(chan_core* c) noexcept { return chan_engine::lock_of(c); }
}  // namespace

bool chan_core::close() noexcept { return chan_engine::close(*this); }

chan_result chan_run(chan_op* ops, std::size_t n, std::int64_t deadline_ns, bool blocking) {
    if (n == 1) return chan_engine::run_one(ops[0], deadline_ns, blocking);
    return chan_engine::run_many(ops, n, deadline_ns, blocking);
}

void chan_throw(std::error_code ec, const char* what) { throw std::system_error(ec, what); }

std::int64_t chan_now_ns() noexcept { return steady_now_ns(); }

std::uint64_t chan_random() noexcept { return next_random(); }

}  // namespace weft::detail
