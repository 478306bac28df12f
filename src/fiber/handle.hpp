// Handle operations the scheduler and the runtime share with fiber_handle.
#pragma once

#include "fiber/fiber.hpp"

namespace weft::detail {

struct waiter;

// Any thread: waits for f to finish (a fiber parks, a plain thread sleeps),
// frees it and rethrows what escaped it.
void fiber_join(fiber* f);
// Any thread: f is freed when it finishes (at once if it has).
void fiber_detach(fiber* f) noexcept;
// The exiting worker found a joiner in join_state: end its wait.
void fiber_wake_joiner(waiter* jw) noexcept;

}  // namespace weft::detail
