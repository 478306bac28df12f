// Binary min-heap of timer nodes.
#include "sched/timer_heap.hpp"

namespace weft::detail {

void timer_heap::push(timer_node* t) {
    t->seq = seq_++;
    heap_.push_back(t);
    t->index = heap_.size() - 1;
    sift_up(t->index);
}

timer_node* timer_heap::pop() noexcept {
    if (heap_.empty()) return nullptr;
    timer_node* t = heap_.front();
    remove(t);
    return t;
}

void timer_heap::remove(timer_node* t) noexcept {
    if (!t->queued()) return;
    const std::size_t i = t->index;
    timer_node* last = heap_.back();
    heap_.pop_back();
    t->index = timer_node::not_queued;
    if (last == t) return;
    place(i, last);
    if (i > 0 && before(last, heap_[(i - 1) / 2])) sift_up(i);
    else sift_down(i);
}

void timer_heap::sift_up(std::size_t i) noexcept {
    timer_node* t = heap_[i];
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (!before(t, heap_[parent])) break;
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, t);
}

void timer_heap::sift_down(std::size_t i) noexcept {
    timer_node* t = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
        if (!before(heap_[child], t)) break;
        place(i, heap_[child]);
        i = child;
    }
    place(i, t);
}

}  // namespace weft::detail
