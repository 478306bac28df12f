// Timers ordered by deadline (ties by arrival), with O(log n) removal of any
// timer: each node remembers its slot in the heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace weft::detail {

struct fiber;

struct timer_node {
    static constexpr std::size_t not_queued = static_cast<std::size_t>(-1);
    std::int64_t deadline_ns = 0;  // steady clock
    std::uint64_t seq = 0;         // arrival order, set by push
    std::size_t index = not_queued;
    fiber* waiter = nullptr;       // woken when the timer fires
    bool queued() const noexcept { return index != not_queued; }
};

class timer_heap {
public:
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    timer_node* top() const noexcept { return heap_.empty() ? nullptr : heap_.front(); }

    void push(timer_node* t);
    timer_node* pop() noexcept;            // removes and returns the earliest
    void remove(timer_node* t) noexcept;   // no-op when t is not queued

private:
    static bool before(const timer_node* a, const timer_node* b) noexcept {
        return a->deadline_ns != b->deadline_ns ? a->deadline_ns < b->deadline_ns : a->seq < b->seq;
    }
    void place(std::size_t i, timer_node* t) noexcept {
        heap_[i] = t;
        t->index = i;
    }
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;

    std::vector<timer_node*> heap_;
    std::uint64_t seq_ = 0;
};

}  // namespace weft::detail
