/* weft context switch for x86-64, System V ABI, Mach-O (macOS).
 *
 * Same contract, frame layout and behaviour as switch_x86_64_sysv_elf.S;
 * only the object-format spelling differs: C symbols carry a leading
 * underscore, there is no .type/.size/.note.GNU-stack, and alignment is
 * written with .p2align (on Mach-O, `.align N` means 2^N bytes).
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
 * MXCSR and the x87 control word are always reloaded (see the ELF file).
 *
 * Unwind info: the assembler emits no __compact_unwind entry for CFI it
 * cannot encode (adjust_cfa_offset, remember/restore state, undefined return
 * address), so the linker derives the encodings from __eh_frame; it cannot
 * encode an undefined return address either, so weft_trampoline stays DWARF
 * and unwinders still stop there. scripts/check-macho.sh verifies that neither
 * weft_switch nor weft_trampoline gets a non-DWARF compact encoding.
 */
#define WEFT_ELF 0
#include "switch_x86_64_sysv.inc"
