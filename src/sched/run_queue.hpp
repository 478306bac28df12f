// Intrusive FIFO of ready fibers: push at the back, pop at the front, no allocation.
#pragma once

#include "fiber/fiber.hpp"

namespace weft::detail {

class run_queue {
public:
    bool empty() const noexcept { return head_ == nullptr; }
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

private:
    fiber* head_ = nullptr;
    fiber* tail_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace weft::detail
