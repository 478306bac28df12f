/* weft context switch for x86-64, System V ABI, ELF.
 *
 * void* weft_switch(void** save_sp, void* to_sp, void* arg)
 *   Saves the callee-saved state of the running context on its own stack,
 *   stores that stack pointer in *save_sp, resumes the context whose stack
 *   pointer is to_sp, and returns `arg` there.
 * void* weft_make_context(void* stack_top, void (*entry)(void*))
 *   Builds a frame on a fresh stack so that the first weft_switch to the
 *   returned stack pointer calls entry(arg) through weft_trampoline.
 *
 * Frame, from the saved stack pointer up: MXCSR, x87 control word, r15, r14,
 * r13, r12, rbx, rbp, return address; the offsets are in
 * src/context/frame_layout.hpp (WEFT_FRAME_X86_64_*), which the code uses.
 * MXCSR and the x87 control word are always reloaded: measured, comparing
 * first to skip the loads was no faster (the compare waits on the store).
 */
#define WEFT_ELF 1
#include "switch_x86_64_sysv.inc"
