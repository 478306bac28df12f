/* weft context switch for arm64, AAPCS64 (Apple variant), Mach-O (macOS).
 *
 * void* weft_switch(void** save_sp, void* to_sp, void* arg)
 * void* weft_make_context(void* stack_top, void (*entry)(void*))
 * (see switch_x86_64_sysv_elf.S for the contract)
 *
 * Same contract, frame layout and behaviour as switch_aarch64_aapcs_elf.S;
 * Mach-O spelling: C symbols carry a leading underscore, no
 * .type/.size/.note.GNU-stack, Apple relocation operators (@PAGE/@PAGEOFF).
 * x18 is the platform register on Apple platforms and is never touched.
 *
 * Frame, from the saved stack pointer up (176 bytes, 16-aligned): x19..x30,
 * d8..d15, FPCR; the offsets are in src/context/frame_layout.hpp
 * (WEFT_FRAME_AARCH64_*), which the code uses.
 * FPCR is per fiber; it is written only when it differs, since a write can
 * serialise the pipeline.
 *
*/
#define WEFT_ELF 0
#include "switch_aarch64_aapcs.inc"
