// Intrusive FIFO of ready fibers: push at the back, pop at the front, no allocation.
#pragma once

#include "fiber/fiber.hpp"

namespace weft::detail {

class run_queue {
public:
    bool empty() const noexcept { return head_ == nullptr; }
    fiber* front() const noexcept { return head_; }
    std::size_t size() const noexcept { return size_; }

    void push(fiber* f) noexcept {
        f->next = nullptr;
        if (tail_) tail_->next = f;
        else head_ = f;
        tail_ = f;
        ++size_;
    }

    fiber* pop() noexcept {
        fiber* f = head_;
        if (!f) return nullptr;
        head_ = f->next;
        if (!head_) tail_ = nullptr;
        --size_;
        return f;
    }

    // Unlinks the fibers among the first `limit` for which pred(f) holds and
    // hands each to take(f), front to back.
    template <class Pred, class Take>
    void take_if(std::size_t limit, Pred pred, Take take) {
        fiber* prev = nullptr;
        fiber* f = head_;
        for (std::size_t i = 0; f && i < limit; ++i) {
            fiber* next = f->next;
            if (pred(f)) {
                if (prev) prev->next = next;
                else head_ = next;
                if (tail_ == f) tail_ = prev;
                --size_;
                take(f);
            } else {
                prev = f;
            }
            f = next;
        }
    }

    template <class Fn>
    void for_each(Fn fn) const {
        for (fiber* f = head_; f; f = f->next) fn(f);
    }

    // Unlinks the first n fibers (n <= size()) and returns them as a chain
    // linked by next, ending in nullptr.
    fiber* take_front(std::size_t n) noexcept {
        if (n == 0) return nullptr;
        fiber* first = head_;
        fiber* last = head_;
        for (std::size_t i = 1; i < n; ++i) last = last->next;
        head_ = last->next;
        if (!head_) tail_ = nullptr;
        last->next = nullptr;
        size_ -= n;
        return first;
    }

private:
    fiber* head_ = nullptr;
    fiber* tail_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace weft::detail
