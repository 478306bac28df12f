// fiber_local<T>: one T per fiber, like thread_local for fibers. Each fiber
// gets its own copy on first use; it is destroyed when that fiber ends. Code
// outside any fiber gets one copy per thread.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>

namespace weft {

namespace detail {
std::size_t fls_new_slot() noexcept;
void* fls_get(std::size_t slot) noexcept;
// Stores value for the running fiber (or thread), destroying any previous one.
void fls_set(std::size_t slot, void* value, void (*destroy)(void*) noexcept);
}  // namespace detail

template <class T>
class fiber_local {
public:
    fiber_local() : slot_(detail::fls_new_slot()) {}
    explicit fiber_local(T initial) : slot_(detail::fls_new_slot()), initial_(std::move(initial)) {}
    fiber_local(const fiber_local&) = delete;
    fiber_local& operator=(const fiber_local&) = delete;

    T& get() {
        if (void* p = detail::fls_get(slot_)) return *static_cast<T*>(p);
        T* value = initial_ ? new T(*initial_) : new T();
        detail::fls_set(slot_, value, [](void* p) noexcept { delete static_cast<T*>(p); });
        return *value;
    }
    T& operator*() { return get(); }
    T* operator->() { return &get(); }
    fiber_local& operator=(T value) {
        get() = std::move(value);
        return *this;
    }

private:
    std::size_t slot_;
    std::optional<T> initial_;
};

}  // namespace weft
