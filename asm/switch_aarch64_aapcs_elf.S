/* weft context switch for AArch64, AAPCS64, ELF.
 *
 * void* weft_switch(void** save_sp, void* to_sp, void* arg)
 * void* weft_make_context(void* stack_top, void (*entry)(void*))
 * (see switch_x86_64_sysv_elf.S for the contract)
 *
 * Frame, from the saved stack pointer up (176 bytes, 16-aligned):
 *   0: x19 x20  16: x21 x22  32: x23 x24  48: x25 x26  64: x27 x28
 *   80: x29 x30  96: d8 d9  112: d10 d11  128: d12 d13  144: d14 d15
 *   160: FPCR  168: unused
 * FPCR is per fiber; it is written only when it differs, since a write can
 * serialise the pipeline.
 */
#define WEFT_ELF 1
#include "switch_aarch64_aapcs.inc"
