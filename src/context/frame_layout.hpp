/* The frame a suspended context leaves on its own stack: what the switch
 * saves, at which offset (in bytes) from the saved stack pointer, the value
 * the scheduler keeps in fiber::sp.
 *
 * One description for everything that reads or writes it:
 *   - asm/switch_*.inc include this file (plain #defines only, outside the
 *     C++ part below) and address the frame through these names;
 *   - src/sched/dump.cpp walks a parked fiber's frame pointers from here;
 *   - tools/weft-gdb.py keeps a copy in its SAVED_FRAME table, checked
 *     against this file by the ctest test debug.gdb_frame_layout_matches;
 *   - tests/unit/context_test.cpp (Switch.SavedFrameMatchesFrameLayout)
 *     parks a context and checks that the frame pointer and the resume
 *     address are where this file says.
 *
 * Only the frame pointer and the resume address are read outside the switch.
 */
#ifndef WEFT_CONTEXT_FRAME_LAYOUT_HPP
#define WEFT_CONTEXT_FRAME_LAYOUT_HPP

/* ---- weft_switch, x86-64 System V (asm/switch_x86_64_sysv.inc) ----------
 * Pushed in this order: rbp, rbx, r12, r13, r14, r15, then 16 bytes for
 * MXCSR and the x87 control word; the return address (the resume address)
 * is what the call to weft_switch pushed, right above. */
#define WEFT_FRAME_X86_64_MXCSR 0
#define WEFT_FRAME_X86_64_X87CW 4
#define WEFT_FRAME_X86_64_R15 16
#define WEFT_FRAME_X86_64_R14 24
#define WEFT_FRAME_X86_64_R13 32
#define WEFT_FRAME_X86_64_R12 40
#define WEFT_FRAME_X86_64_RBX 48
#define WEFT_FRAME_X86_64_RBP 56 /* the frame pointer */
#define WEFT_FRAME_X86_64_RET 64 /* the resume address */
#define WEFT_FRAME_X86_64_SIZE 72 /* popped by a switch to it, return address included */

/* ---- weft_switch, AArch64 AAPCS64 (asm/switch_aarch64_aapcs.inc) --------
 * 176 bytes (16-aligned); x29 is the frame pointer, x30 the resume address. */
#define WEFT_FRAME_AARCH64_X19 0
#define WEFT_FRAME_AARCH64_X21 16
#define WEFT_FRAME_AARCH64_X23 32
#define WEFT_FRAME_AARCH64_X25 48
#define WEFT_FRAME_AARCH64_X27 64
#define WEFT_FRAME_AARCH64_X29 80 /* the frame pointer */
#define WEFT_FRAME_AARCH64_X30 88 /* the resume address */
#define WEFT_FRAME_AARCH64_D8 96
#define WEFT_FRAME_AARCH64_D10 112
#define WEFT_FRAME_AARCH64_D12 128
#define WEFT_FRAME_AARCH64_D14 144
#define WEFT_FRAME_AARCH64_FPCR 160
#define WEFT_FRAME_AARCH64_SIZE 176

/* ---- Boost.Context jump_fcontext, x86-64 System V (-DWEFT_CONTEXT=boost) --
 * Not weft's code: the layout of Boost's fcontext_t (1.74 and later, without
 * its CET shadow-stack build), which the boost backend keeps as fiber::sp:
 * 0x38 bytes (MXCSR/x87 at 0, r12 r13 r14 r15 rbx at 8..0x28, rbp at 0x30),
 * then the return address into weft::detail::switch_context. The unit test
 * checks it against the installed Boost. No layout is described for Boost
 * on other architectures: dumps there print no backtraces. */
#define WEFT_FCONTEXT_X86_64_RBP 48
#define WEFT_FCONTEXT_X86_64_RET 56

#ifdef __cplusplus
#include <cstddef>

namespace weft::detail::saved_frame {
// Offsets of the frame pointer and the resume address of a suspended context
// of the compiled-in backend; `known` is false where none is described.
#if defined(WEFT_CONTEXT_BOOST) && defined(__x86_64__)
inline constexpr bool known = true;
inline constexpr std::size_t fp_offset = WEFT_FCONTEXT_X86_64_RBP;
inline constexpr std::size_t pc_offset = WEFT_FCONTEXT_X86_64_RET;
#elif defined(WEFT_CONTEXT_BOOST)
inline constexpr bool known = false;
inline constexpr std::size_t fp_offset = 0;
inline constexpr std::size_t pc_offset = 0;
#elif defined(__x86_64__)
inline constexpr bool known = true;
inline constexpr std::size_t fp_offset = WEFT_FRAME_X86_64_RBP;
inline constexpr std::size_t pc_offset = WEFT_FRAME_X86_64_RET;
static_assert(WEFT_FRAME_X86_64_RET == WEFT_FRAME_X86_64_SIZE - 8, "the return address ends the frame");
static_assert(WEFT_FRAME_X86_64_RBP + 8 == WEFT_FRAME_X86_64_RET,
              "rbp is pushed first, right below the return address");
#elif defined(__aarch64__)
inline constexpr bool known = true;
inline constexpr std::size_t fp_offset = WEFT_FRAME_AARCH64_X29;
inline constexpr std::size_t pc_offset = WEFT_FRAME_AARCH64_X30;
static_assert(WEFT_FRAME_AARCH64_X29 + 8 == WEFT_FRAME_AARCH64_X30, "x29 and x30 are stored as a pair");
static_assert(WEFT_FRAME_AARCH64_SIZE % 16 == 0, "sp stays 16-aligned");
#else
inline constexpr bool known = false;
inline constexpr std::size_t fp_offset = 0;
inline constexpr std::size_t pc_offset = 0;
#endif
}  // namespace weft::detail::saved_frame
#endif /* __cplusplus */

#endif /* WEFT_CONTEXT_FRAME_LAYOUT_HPP */
