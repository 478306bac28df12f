// The context-switch primitive: one stack pointer per suspended context.
// Backends: hand-written assembly (asm/) or Boost.Context fcontext, chosen at configure time.
#pragma once

#include <cstddef>

namespace weft::detail {

// Entry point of a fresh context. It receives the `arg` of the first switch to it
// and must never return: it ends by switching away for good.
using context_entry = void (*)(void* arg);

#if defined(WEFT_CONTEXT_BOOST)
void* make_context(void* stack_top, std::size_t stack_size, context_entry entry);
void* switch_context(void** save_sp, void* to_sp, void* arg);
#else
extern "C" void* weft_switch(void** save_sp, void* to_sp, void* arg);
extern "C" void* weft_make_context(void* stack_top, context_entry entry);
// Not callable: the first resume address of every fresh context
// (frame_layout.hpp's return-address slot), named for tests and debuggers.
extern "C" void weft_trampoline();

inline void* make_context(void* stack_top, std::size_t /*stack_size*/, context_entry entry) {
    return weft_make_context(stack_top, entry);
}
inline void* switch_context(void** save_sp, void* to_sp, void* arg) {
    return weft_switch(save_sp, to_sp, arg);
}
#endif

// Name of the compiled-in backend, for diagnostics and benchmark labels.
const char* context_backend_name() noexcept;

}  // namespace weft::detail
