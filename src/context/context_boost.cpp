// Boost.Context (fcontext) backend of the context-switch primitive, for
// platforms without a hand-written switch in asm/.
#include "context/context.hpp"

#if defined(WEFT_CONTEXT_BOOST)
#include <boost/context/detail/fcontext.hpp>

namespace weft::detail {
namespace bctx = boost::context::detail;

namespace {
// fcontext hands the suspended context to the resumed side, so the resumed
// side stores it in the slot the suspending side named.
struct handoff {
    void** save_sp;
    void* arg;
};

[[noreturn]] void trampoline(bctx::transfer_t t) {
    auto entry = reinterpret_cast<context_entry>(t.data);
    // Report back to make_context; the next jump here is the first real switch.
    bctx::transfer_t first = bctx::jump_fcontext(t.fctx, nullptr);
    auto* h = static_cast<handoff*>(first.data);
    *h->save_sp = first.fctx;
    entry(h->arg);
    __builtin_trap();
}
}  // namespace

void* make_context(void* stack_top, std::size_t stack_size, context_entry entry) {
    bctx::fcontext_t ctx = bctx::make_fcontext(stack_top, stack_size, &trampoline);
    bctx::transfer_t t = bctx::jump_fcontext(ctx, reinterpret_cast<void*>(entry));
    return t.fctx;
}

void* switch_context(void** save_sp, void* to_sp, void* arg) {
    handoff h{save_sp, arg};
    bctx::transfer_t t = bctx::jump_fcontext(to_sp, &h);
    auto* back = static_cast<handoff*>(t.data);
    *back->save_sp = t.fctx;
    return back->arg;
}

const char* context_backend_name() noexcept { return "boost"; }
}  // namespace weft::detail

#else
namespace weft::detail {
const char* context_backend_name() noexcept { return "asm"; }
}  // namespace weft::detail
#endif
