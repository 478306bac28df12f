// weft::run: the single-thread entry point. It turns the calling thread into a
// worker, runs fn as its first fiber and returns when every fiber has finished.
#pragma once

#include <utility>

#include "weft/fiber.hpp"

namespace weft {

namespace detail {
// Owns the calling thread's worker for the duration of one weft::run.
class run_scope {
public:
    run_scope();  // fatal when this thread is already running weft::run
    ~run_scope();
    run_scope(const run_scope&) = delete;
    run_scope& operator=(const run_scope&) = delete;
    void loop();  // returns when no fiber is left
};
}  // namespace detail

// Rethrows an exception that escaped fn, after every other fiber has finished.
template <class F>
void run(F&& fn, const spawn_options& opts = {default_stack_size, "main"}) {
    detail::run_scope scope;
    fiber_handle main = spawn(std::forward<F>(fn), opts);
    scope.loop();
    main.join();
}

}  // namespace weft
